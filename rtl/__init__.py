"""kchip.rtl"""
