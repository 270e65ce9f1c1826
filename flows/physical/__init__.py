"""Pure-Python physical design: DEF/LEF models, placement, clock tree and routing."""
