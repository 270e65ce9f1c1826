"""``kchip view``: open a run's layout in KLayout with the PDK's layer properties and the signoff markers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from rich.markup import escape

from kchip.cli import UserError, console


def register(subparsers) -> None:
    parser = subparsers.add_parser("view", help="open a run's layout in KLayout",
                                   description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="run folder of `kchip flow run`")
    parser.add_argument("--stage", metavar="STAGE",
                        help="a stage's own layout (gds and later; default: the final folder)")
    parser.add_argument("--pdk", default="sky130A", help="PDK variant (default: sky130A)")
    parser.add_argument("--pdk-root", help="PDK root (default: $KCHIP_PDK_ROOT, then $PDK_ROOT)")
    parser.set_defaults(handler=run)


def stage_folder(run_dir: Path, stage: str) -> Path:
    """The folder of the last run of ``stage`` in ``run_dir`` (from its status file)."""
    status = sorted(run_dir.glob(f"status/[0-9]*-{stage}.json"))
    if not status:
        known = sorted(p.stem.split("-", 1)[1] for p in run_dir.glob("status/[0-9]*-*.json"))
        raise UserError(f"{run_dir}: no stage {stage!r} has run; stages: {', '.join(known) or 'none'}")
    return Path(json.loads(status[-1].read_text())["folder"])


def layout_files(run_dir: Path, stage: str | None) -> tuple[Path, list[Path], list[Path]]:
    """The GDS to open, the marker databases beside it and the PNG pictures of ``stage`` (or final/)."""
    folder = run_dir / "final" if stage is None else stage_folder(run_dir, stage)
    if not folder.is_dir():
        raise UserError(f"{folder} does not exist: run `kchip flow run` first")
    gds = sorted(folder.glob("*.gds"))
    if not gds and stage is not None:
        state = json.loads((folder / "state.json").read_text())
        inherited = state.get("inherited_views", {}).get("gds")
        gds = [Path(inherited)] if inherited else []
    if not gds:
        raise UserError(f"{folder}: no GDS (stages before gds keep their layout as JSON)")
    return gds[0], sorted(folder.glob("*.lyrdb")), sorted(folder.glob("*.png")) or sorted(gds[0].parent.glob("*.png"))


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run(args) -> int:
    from kchip.pdk import PdkError, load_pdk

    gds, markers, pictures = layout_files(args.run_dir, args.stage)
    if not has_display():
        console.print(f"no display ($DISPLAY and $WAYLAND_DISPLAY are unset): KLayout cannot open "
                      f"{escape(str(gds))}; the pictures are:")
        for picture in pictures:
            console.print(f"  {escape(str(picture))}")
        return 0
    klayout = shutil.which("klayout")
    if klayout is None:
        raise UserError("the klayout binary is not on PATH (Debian: apt-get install klayout)")
    try:
        lyp = load_pdk(args.pdk, args.pdk_root).klayout_lyp
    except PdkError as exc:
        raise UserError(str(exc)) from None
    command = [klayout, str(gds), "-l", str(lyp), *(arg for m in markers for arg in ("-m", str(m)))]
    console.print(escape(" ".join(command)))
    subprocess.Popen(command, start_new_session=True)
    return 0
