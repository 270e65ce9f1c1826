"""kchip.pdk"""
