"""kchip.tools"""
