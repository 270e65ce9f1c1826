"""Signoff checks of a finished layout: design rules (magic, plus KLayout for the rules magic leaves
out) and layout versus schematic (magic extraction, netgen against the gate-level netlist)."""
