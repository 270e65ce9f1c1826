"""kchip.rtl.examples"""
