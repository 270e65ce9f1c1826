"""Timing views of a design: liberty cell data, SDC constraints and SPEF parasitics."""
