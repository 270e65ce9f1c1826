"""Quality of results at higher density: the full flow with each design packed 1.3x tighter. Prints JSON.

    python bench/qor.py [--scale 1.3] [--cap 0.65] [--jobs 1] [--runs-dir DIR] [--timeout-min 90] [NAME ...]

NAME is ``npu_core`` (the default NPU, N=4) or a corpus design of ``bench/corpus``; default: all of
them. Each design file is copied into the runs folder with its sources made absolute and its
floorplan packed: ``utilization`` times ``--scale`` (at most ``--cap``), or a fixed die's sides
divided by the square root of ``--scale``; everything else, ``[flow.set]`` included, is kept. The
copies run as ``kchip flow run`` through ``bench/designs.py``. Per design, besides the corpus
figures: the settings used, die area in mm2, the routed worst path against the same netlist's worst
path timed without wires (target: within 15 %), max-slew and max-capacitance violations (target 0),
hold slack (target >= 0), fmax, time per stage and peak memory.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from designs import CORPUS, run_design  # noqa: E402

BUILTIN = Path(__file__).resolve().parent.parent / "rtl" / "npu_core" / "design.toml"


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def packed_design(source: Path, folder: Path, scale: float, cap: float) -> tuple[Path, dict]:
    """A copy of design file ``source`` in ``folder``, packed ``scale`` times tighter; returns the
    copy and the floorplan it got."""
    data = tomllib.loads(source.read_text())
    base = source.parent
    files = data.get("source", {})
    if "verilog" in files:
        found = []
        for entry in files["verilog"]:
            matches = sorted(base.glob(entry)) if any(c in entry for c in "*?[") else [base / entry]
            found += [str(p.resolve()) for p in matches]
        files["verilog"] = found
    if "include_dirs" in files:
        files["include_dirs"] = [str((base / p).resolve()) for p in files["include_dirs"]]
    floorplan = data.setdefault("floorplan", {})
    if "utilization" in floorplan:
        floorplan["utilization"] = round(min(cap, floorplan["utilization"] * scale), 4)
    else:
        floorplan["die_size_um"] = [round(side / math.sqrt(scale), 1) for side in floorplan["die_size_um"]]
    lines = []
    for table, values in data.items():
        nested = {k: v for k, v in values.items() if isinstance(v, dict) and table == "flow"}
        plain = {k: v for k, v in values.items() if k not in nested}
        if plain:
            lines += [f"[{table}]"] + [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in plain.items()] + [""]
        for name, inner in nested.items():
            lines += [f"[{table}.{name}]"] + [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in inner.items()] + [""]
    copy = folder / f"{source.parent.name if source.name == 'design.toml' else source.stem}.toml"
    copy.write_text("\n".join(lines))
    return copy, floorplan


def qor(result: dict) -> dict:
    """The quality figures of one corpus-style result."""
    period, setup, bare = (result.get(k) for k in ("timing__clock_period__ns", "timing__setup__ws",
                                                     "timing__setup_without_wires__ws"))
    routed = None if None in (period, setup) else period - setup
    unwired = None if None in (period, bare) else period - bare
    return {
        "die__area_mm2": None if result.get("design__die__area_um2") is None
        else round(result["design__die__area_um2"] / 1e6, 4),
        "worst_path__routed_ns": None if routed is None else round(routed, 3),
        "worst_path__without_wires_ns": None if unwired is None else round(unwired, 3),
        "worst_path__wire_share": None if not (routed and unwired) else round(routed / unwired - 1, 3),
        "worst_path__within_target": None if not (routed and unwired) else routed <= 1.15 * unwired,
        "fmax__mhz": None if not routed else round(1000 / routed, 1),
        "drv__violations__count": None if result.get("timing__drv__max_cap__count") is None
        else result["timing__drv__max_cap__count"] + (result.get("timing__drv__max_slew__count") or 0),
        "hold__met": None if result.get("timing__hold__ws") is None else result["timing__hold__ws"] >= 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="npu_core and/or corpus designs (default: all)")
    parser.add_argument("--scale", type=float, default=1.3, help="how much tighter than the design file")
    parser.add_argument("--cap", type=float, default=0.65, help="highest utilisation a packed design gets")
    parser.add_argument("--pdk", default="sky130A")
    parser.add_argument("--jobs", type=int, default=1, help="designs run at the same time")
    parser.add_argument("--runs-dir", type=Path, help="where run folders go (default: a new temporary folder)")
    parser.add_argument("--timeout-min", type=float, default=90.0, help="per design")
    args = parser.parse_args()
    if not args.scale > 0 or not 0 < args.cap <= 1:
        sys.exit(f"--scale {args.scale!r} must be above 0 and --cap {args.cap!r} in (0, 1]")
    known = {"npu_core": BUILTIN, **{t.stem: t for t in sorted(CORPUS.glob("*.toml"))}}
    unknown = sorted(set(args.names) - set(known))
    if unknown:
        sys.exit(f"unknown design(s) {unknown}; known: {', '.join(known)}")
    runs_dir = args.runs_dir or Path(tempfile.mkdtemp(prefix="kchip-qor-"))
    runs_dir.mkdir(parents=True, exist_ok=True)
    packed = [packed_design(known[name], runs_dir, args.scale, args.cap) for name in (args.names or known)]

    def one(item):
        copy, floorplan = item
        result = run_design(copy, runs_dir, args.timeout_min * 60, args.pdk)
        return {**result, "floorplan": floorplan, **qor(result)}

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(one, packed))
    print(json.dumps({"runs_dir": str(runs_dir), "pdk": args.pdk, "scale": args.scale, "cap": args.cap,
                      "clean": sum(r["clean"] for r in results), "designs": results}, indent=2))


if __name__ == "__main__":
    main()
