"""Timing views of a routed design: SPEF parasitics."""
