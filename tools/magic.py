"""Magic: design-rule checks with the SKY130 tech file and layout extraction for LVS.

:func:`run_script` runs a Tcl script in batch mode (no graphics, no console) and checks that magic
reached the script's end: magic keeps going after a failing command, loads an empty "minimum"
technology when the tech file is missing, and may crash outright (segmentation fault), so the exit
code alone does not say whether the work was done.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kchip.tools.base import Invocation, ToolError, ToolSpec

TOOL = ToolSpec(
    name="magic",
    executables=("magic",),
    version_args=("--version",),
    version_pattern=r"(\d+)\.(\d+)\.(\d+)",
    min_version=(8, 3, 100),
    install_hint="apt-get install magic",
    source="Debian package magic",
)

DONE_MARKER = "kchip: magic script finished"
FAILED_MARKER = "kchip: magic script failed:"
CRASH_CODES = (-11, 139, -6, 134)
TECH_LOAD_ERRORS = ("Error loading technology", "Failed to load technology")
#: Messages after which magic still adds the rule it names: the deprecated last ``plane`` argument
#: of an ``edge4way`` rule is looked up (``Unrecognized plane name ...``) and then ignored
#: (``Ignoring bad plane argument.``); every other message in the ``drc`` section means the rule
#: was not added (usage errors, unknown options, badly formed lines).
TECH_RULE_KEPT_MESSAGE = "Ignoring bad plane argument"
TECH_RULE_KEPT_COMPANION = "Unrecognized plane name"

_TECH_ERROR = re.compile(r"^(?P<file>.*?): line (?P<line>\d+): section (?P<section>\S+?):\s*$")


@dataclass(frozen=True)
class TechError:
    """One complaint magic printed while reading its tech file: the section, the line number in
    the tech file it read, and the message (its indented continuation lines joined)."""

    section: str
    line: int
    message: str


def tech_errors(log: str, section: str | None = None) -> tuple[TechError, ...]:
    """The tech-file complaints in magic's output (``FILE: line N: section S:`` followed by the
    message on tab-indented lines), in order, duplicates included (magic reads a section again
    whenever a style changes); only ``section``'s when given."""
    found, lines = [], log.splitlines()
    for number, text in enumerate(lines):
        head = _TECH_ERROR.match(text)
        if not head or (section is not None and head["section"] != section):
            continue
        message = []
        for follow in lines[number + 1:]:
            if not follow.startswith("\t"):
                break
            message.append(follow.strip())
        found.append(TechError(head["section"], int(head["line"]), " ".join(message)))
    return tuple(found)


def version_in_log(log: str) -> str:
    """``8.3.105`` from the banner ``Magic 8.3 revision 105`` (empty when there is none)."""
    banner = re.search(r"Magic (\d+\.\d+) revision (\d+)", log)
    return f"{banner[1]}.{banner[2]}" if banner else ""


class MagicCrashed(ToolError):
    """Magic died (for example a segmentation fault) before the end of its script."""


def tcl_word(value: object) -> str:
    """``value`` as one Tcl word that stands for exactly its text, also inside a braced script body.

    Braced when that holds the text literally, else double-quoted with every character Tcl would
    substitute (and every brace) escaped. Spaces, newlines and non-ASCII characters are written as
    they are: magic's and netgen's Tcl read the script as UTF-8, so they get the same bytes back.
    """
    text = str(value)
    if not any(ch in text for ch in "{}\\"):
        return "{" + text + "}"
    return '"' + re.sub(r'([\\$\[\]"{}])', r"\\\1", text) + '"'


def gds_load_commands(gds: Path, top: str) -> list[str]:
    """Tcl lines that read ``gds`` and open cell ``top``, failing when the GDS has no such cell."""
    return [
        f"gds read {tcl_word(gds)}",
        f"if {{[lsearch -exact [cellname list allcells] {tcl_word(top)}] < 0}} {{",
        f"    error {tcl_word(f'cell {top} is not in {gds}')}",
        "}",
        f"load {tcl_word(top)}",
        "select top cell",
    ]


def run_script(invocation: Invocation, tech: Path, body: str, script: Path, *, log_name: str,
               cwd: Path) -> str:
    """Write ``body`` (Tcl) to ``script``, run it in magic with ``tech``; return magic's output.

    The body runs inside ``catch``: a Tcl error raises :class:`ToolError` with its message, a magic
    that dies before the end raises :class:`MagicCrashed`. ``quit`` comes on stdin as well, so magic
    never waits for input.
    """
    wrapped = (f"if {{[catch {{\n{body.rstrip()}\n}} message]}} {{\n"
               f"    puts \"{FAILED_MARKER} $message\"\n}} else {{\n    puts \"{DONE_MARKER}\"\n}}\n"
               "quit -noprompt\n")
    script.write_text(wrapped)
    output = invocation.run(
        TOOL, ["-dnull", "-noconsole", "-T", str(tech.resolve()), str(script.resolve())],
        log_name=log_name, cwd=cwd, stdin="quit -noprompt\n", ok_codes=(0, *CRASH_CODES),
    )
    log = invocation.folder / log_name
    for problem in TECH_LOAD_ERRORS:
        if problem in output:
            raise ToolError(f"magic could not load the tech file {str(tech)!r} ({problem!r}); log: {log}")
    for line in output.splitlines():
        if line.startswith(FAILED_MARKER):
            raise ToolError(f"magic script {script} failed: {line[len(FAILED_MARKER):].strip()}; "
                            f"log: {log}")
    if DONE_MARKER not in output:
        tail = "\n".join(output.strip().splitlines()[-15:])
        raise MagicCrashed(f"magic died before the end of {script}\nlog: {log}\n--- last lines ---\n{tail}")
    return output
