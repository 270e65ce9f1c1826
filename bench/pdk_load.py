"""How long a flow process takes to read a PDK's process rules (tech LEF, cell LEF with its sites
and macros, descriptor), per PDK, in a fresh process each time; prints JSON.

Every flow stage that places, routes or checks a layout reads them once per process, so this time is
paid by each stage (and by each Luigi worker on a shared run). Medians of ``--runs`` runs.

    KCHIP_PDK_ROOT=... .venv/bin/python bench/pdk_load.py [--runs 3] [--pdk sky130A ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from kchip.pdk import available_pdks

#: run in a fresh interpreter: prints the seconds load_rules took and what it read
PROBE = """
import json, time
from kchip.pdk import load_pdk
from kchip.pdk.rules import load_rules
pdk = load_pdk({name!r})
started = time.perf_counter()
rules = load_rules(pdk)
print(json.dumps({{"seconds": time.perf_counter() - started, "routing_layers": len(rules.routing_layers)}}))
"""


def measure(name: str, runs: int) -> dict:
    """Median and all ``runs`` times of reading ``name``'s rules in a fresh process."""
    times, layers = [], 0
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", PROBE.format(name=name)], capture_output=True, text=True,
                              check=True)
        found = json.loads(done.stdout.strip().splitlines()[-1])
        times.append(found["seconds"])
        layers = found["routing_layers"]
    return {"pdk__rules__load__s": round(statistics.median(times), 2), "runs_s": [round(t, 2) for t in times],
            "pdk__routing_layers__count": layers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per PDK (default 3)")
    parser.add_argument("--pdk", action="append", choices=available_pdks(),
                        help="PDK to time (repeatable; default: every PDK with a descriptor)")
    args = parser.parse_args()
    print(json.dumps({name: measure(name, args.runs) for name in args.pdk or available_pdks()}, indent=1))


if __name__ == "__main__":
    main()
