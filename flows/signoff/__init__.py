"""Signoff checks of a finished layout: design rules (magic, plus KLayout for the rules magic leaves
out) and layout versus schematic (magic extraction, netgen against the gate-level netlist).

Entry points: :func:`run_drc` (magic only), :func:`run_drc_signoff` (magic and KLayout, with the
rules neither checked), :func:`check_layout_rules` (KLayout only) and :func:`run_lvs`. Their results
have ``metrics()`` giving ``drc__errors__count`` / ``lvs__mismatch__count``.
"""

from kchip.flows.signoff.drc import DrcResult, DrcSignoff, run_drc, run_drc_signoff
from kchip.flows.signoff.layout_rules import LayoutRuleResult, check_layout_rules
from kchip.flows.signoff.lvs import LvsResult, run_lvs

__all__ = ["DrcResult", "DrcSignoff", "LayoutRuleResult", "LvsResult", "check_layout_rules", "run_drc",
           "run_drc_signoff", "run_lvs"]
