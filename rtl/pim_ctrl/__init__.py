"""kchip.rtl.pim_ctrl"""
