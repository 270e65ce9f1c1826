"""kchip.chiplet"""
