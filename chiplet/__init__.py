"""kchip.chiplet: a chiplet-system integration checker (dies, die-to-die links, traffic, RTL ports).

``model`` reads a system file, ``standards`` holds the link-standard library, ``routing`` routes all
demands at once, ``checks`` and ``rtl_ports`` hold the checks, ``report`` runs them, ``svg`` draws the
result and ``generate`` builds synthetic systems for benchmarks.
"""

from pathlib import Path

#: The reference K-AP system: an AP die, two NPU chiplets, an HBM3-PIM stack and an I/O die.
REFERENCE_SYSTEM = Path(__file__).resolve().parent / "kap_reference.yaml"
