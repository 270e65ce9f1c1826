"""kchip.verification"""
