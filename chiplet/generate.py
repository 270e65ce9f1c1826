"""Synthetic chiplet systems of a chosen size, for benchmarks and scale tests.

Die 0 is the AP; every 10th die is a memory stack (it does not forward traffic) and every 25th an
I/O die, the rest NPUs. A random tree over the forwarding dies keeps everything reachable, each memory
stack hangs off two forwarding dies, and the remaining links join random forwarding dies. Every link is
UCIe advanced x64 at 16 or 32 GT/s. Demands join random die pairs; ``load`` scales their bandwidth,
so a large ``load`` makes lowest-latency routing overflow links and exercises the path LP.
"""

from __future__ import annotations

import random

from kchip.chiplet.model import EDGES


def _role(index: int) -> str:
    if index == 0:
        return "ap"
    if index % 10 == 0:
        return "memory"
    return "io" if index % 25 == 0 else "npu"


def synthetic_system(dies: int, links: int, demands: int, *, seed: int = 0, load: float = 1.0) -> dict:
    """A system in its file form (pass it to :func:`kchip.chiplet.model.system_from_dict`)."""
    if dies < 3 or links < dies or demands < 0:
        raise ValueError(f"need dies >= 3, links >= dies and demands >= 0; got dies={dies!r}, "
                         f"links={links!r}, demands={demands!r}")
    rng = random.Random(seed)
    names = [f"d{i}" for i in range(dies)]
    entries = [{"name": n, "role": _role(i), "package": "silicon-interposer", "width_mm": 20,
                "height_mm": 20, "power_w": 5, "interfaces": [],
                **({"redundancy": 2} if i % 10 == 5 else {})} for i, n in enumerate(names)]
    forwarding = [i for i in range(dies) if _role(i) != "memory"]
    pairs = [(forwarding[k], rng.choice(forwarding[:k])) for k in range(1, len(forwarding))]
    for i in range(dies):
        if _role(i) == "memory":
            pairs += [(i, u) for u in rng.sample(forwarding, 2)]
    while len(pairs) < links:
        u, v = rng.sample(forwarding, 2)
        pairs.append((u, v))
    link_entries = []
    for j, (u, v) in enumerate(pairs[:links]):
        rate = rng.choice((16, 32))
        for die in (u, v):
            interfaces = entries[die]["interfaces"]
            interfaces.append({"name": f"l{j}", "standard": "ucie-advanced", "rate_gtps": rate,
                               "bump_pitch_um": 45, "edge": EDGES[len(interfaces) % 4]})
        link_entries.append({"name": f"l{j}", "ends": [f"{names[u]}.l{j}", f"{names[v]}.l{j}"]})
    demand_entries = []
    for k in range(demands):
        s, t = rng.sample(range(dies), 2)
        demand_entries.append({"name": f"t{k}", "from": names[s], "to": names[t],
                               "gbyte_per_s": round(load * rng.uniform(1, 10), 3),
                               "latency_budget_ns": 60})
    return {"system": f"synthetic {dies} dies / {links} links / {demands} demands",
            "dies": entries, "links": link_entries, "demands": demand_entries}
