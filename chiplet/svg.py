"""Draw a checked system as SVG: dies as boxes, links as lines coloured and labelled by utilisation
(green when idle, through yellow, to red at capacity; dashed when over capacity)."""

from __future__ import annotations

from html import escape

import networkx as nx

from kchip.chiplet.report import CheckReport

WIDTH, HEIGHT, MARGIN = 960, 720, 70
ROLE_FILL = {"ap": "#cfe2ff", "npu": "#d1f2d9", "memory": "#fde2c8", "io": "#e9d8fd", "other": "#eeeeee"}


def _colour(utilisation: float) -> str:
    hue = 120 * (1 - min(max(utilisation, 0.0), 1.0))
    return f"hsl({hue:.0f},75%,38%)"


def render_svg(report: CheckReport) -> str:
    """The SVG text of the system graph with link utilisation."""
    system = report.system
    graph = nx.MultiGraph()
    graph.add_nodes_from(system.dies)
    graph.add_edges_from((link.a.die, link.b.die) for link in system.links)
    layout = nx.kamada_kawai_layout(graph) if len(graph) <= 60 else nx.spring_layout(graph, seed=1)
    xs = [p[0] for p in layout.values()]
    ys = [p[1] for p in layout.values()]
    span_x, span_y = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0

    def at(die: str) -> tuple[float, float]:
        x, y = layout[die]
        return (MARGIN + (x - min(xs)) / span_x * (WIDTH - 2 * MARGIN),
                MARGIN + (y - min(ys)) / span_y * (HEIGHT - 2 * MARGIN - 30))

    small = len(system.dies) <= 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'font-family="sans-serif" font-size="12">',
             f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
             f'<text x="12" y="20" font-size="15" font-weight="bold">{escape(system.name)}: '
             f'{"passes" if report.passed else "fails"} '
             f'({sum(len(v) for v in report.violations.values())} violations)</text>']
    seen: dict[frozenset, int] = {}
    for row in report.link_rows():
        a, b = row["ends"][0].split(".")[0], row["ends"][1].split(".")[0]
        (x1, y1), (x2, y2) = at(a), at(b)
        pair = frozenset((a, b))
        offset = 8 * seen.get(pair, 0)
        seen[pair] = seen.get(pair, 0) + 1
        u = row["utilisation"]
        dash = ' stroke-dasharray="8 4"' if u > 1 + 1e-9 else ""
        parts.append(f'<line x1="{x1 + offset:.1f}" y1="{y1 + offset:.1f}" x2="{x2 + offset:.1f}" '
                     f'y2="{y2 + offset:.1f}" stroke="{_colour(u)}" stroke-width="{2 + 4 * min(u, 1):.1f}"'
                     f'{dash}><title>{escape(row["name"])}: {escape(row["standard"])}, '
                     f'{u:.0%}</title></line>')
        if small:
            parts.append(f'<text x="{(x1 + x2) / 2 + offset:.1f}" y="{(y1 + y2) / 2 + offset - 4:.1f}" '
                         f'text-anchor="middle" fill="{_colour(u)}">{escape(row["name"])} {u:.0%}</text>')
    for die in system.dies.values():
        x, y = at(die.name)
        if small:
            parts.append(f'<rect x="{x - 42:.1f}" y="{y - 18:.1f}" width="84" height="36" rx="5" '
                         f'fill="{ROLE_FILL[die.role]}" stroke="#333"/>'
                         f'<text x="{x:.1f}" y="{y - 2:.1f}" text-anchor="middle" font-weight="bold">'
                         f'{escape(die.name)}</text><text x="{x:.1f}" y="{y + 12:.1f}" '
                         f'text-anchor="middle" font-size="10">{escape(die.role)}, '
                         f'{die.width_mm:g}x{die.height_mm:g} mm</text>')
        else:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{ROLE_FILL[die.role]}" '
                         f'stroke="#333"><title>{escape(die.name)}</title></circle>')
    parts.append(f'<text x="12" y="{HEIGHT - 12}" font-size="11">line colour and width: link '
                 f'utilisation (green 0%, red 100%, dashed: over capacity)</text></svg>')
    return "\n".join(parts) + "\n"
