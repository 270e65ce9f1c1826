"""kchip.rtl.npu_core"""
