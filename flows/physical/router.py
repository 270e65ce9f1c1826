"""Detailed routing by negotiated congestion (PathFinder) on a grid that is DRC-correct by construction.

Why a router of our own: qrouter 1.4.71 (the installable router) leaves thousands of spacing errors on
SKY130 (see the project's findings). Here the grid and a few conflict rules carry the design rules:
- one net per node; every layer runs in its own direction only;
- on met1, vias of different nets never sit on vertically neighbouring nodes (their pads would be
  0.08-0.11 um apart);
- on met2, met3 and met4, different nets never take neighbouring nodes of one track (pad-to-wire
  and line-end spacing);
- fixed shapes (cell obstructions, rails, straps, pins, pin-access vias) block the nodes whose wire
  or via pad would come closer than the layer spacing.
Nets are routed one connection at a time with A*, each search kept to a corridor of coarse routing
cells around the net's global route (:mod:`kchip.flows.physical.global_route`) when there is one;
nodes used by several nets get more expensive every round until no conflict is left. Once few conflicts remain, the nets passing near them are ripped up
and rerouted too, in a neighbourhood that widens while progress stalls. Same-net gaps and notches
(also against the net's own pin and port metal, which the grid lets the net approach) and small
met3/met4 islands are mended when the geometry is written.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import numpy as np

from kchip.flows.physical.global_route import GlobalRoute
from kchip.flows.physical.grid import BLOCKED, RouteGrid
from kchip.flows.physical.layout import Layout, Rect, Shape, Via
from kchip.formats.lef import Macro
from kchip.flows.physical.mending import ShapeIndex, grow_islands, mended
from kchip.flows.physical.pin_access import Access, PinAccessPlanner, moved
from kchip.flows.physical.search import SearchState, astar

#: cost of one step along each routing layer, bottom up, per um of wire (the lowest layer, whose
#: tracks pass over the cells' pins, is the dearest), and of a via
LAYER_WEIGHT = (2.0, 1.0, 0.8, 0.8)
VIA_COST = 1.5
#: A* heuristic per um of remaining distance; above the cheapest step cost (0.8) it trades a little
#: path quality for far fewer expanded nodes
HEURISTIC_WEIGHT = 1.2
#: search boxes (grid steps around a connection's terminals), tried in turn until a path is found;
#: later rounds start wider, so a net stuck in conflict can find a detour far away
SEARCH_MARGINS = ((6, 30, 10 ** 6),) * 5 + ((30, 10 ** 6),) * 10 + ((80, 10 ** 6),)
#: history cost added to a node each round it is in conflict, and growth of the present-congestion
#: factor per round (PathFinder's h and p schedules)
HISTORY_STEP = 0.4
PRESENT_GROWTH = 1.6
PRESENT_MAX = 1e6
#: once fewer nets than this are in conflict, each round also rips up the nets that pass near a
#: conflict: rerouting only the losers cannot free what settled nets hold. The neighbourhood starts at
#: RIPUP_RADIUS grid steps and widens by RIPUP_GROWTH for every RIPUP_PATIENCE rounds without a new
#: lowest conflict count (up to RIPUP_RADIUS_MAX)
ENDGAME_NETS = 300
RIPUP_RADIUS, RIPUP_GROWTH, RIPUP_PATIENCE, RIPUP_RADIUS_MAX = 3, 2, 5, 15
#: how far (nm) past a routing window's outermost nodes a router confined to it looks for metal and
#: cells: more than a node's wire, edge or via pad plus the widest spacing, a pin access's shapes
#: or a small island's growth reach from a node inside
WINDOW_HALO = 5000
#: with a global route, a connection searches the gcells of its net's global route widened by
#: CORRIDOR_WIDEN gcells, one more every CORRIDOR_PATIENCE rounds (in the endgame's rip-ups too:
#: on PPU the same conflicts each round as without, its last round 46 s instead of 164 s); a
#: connection with no path in its corridor searches the box
CORRIDOR_WIDEN, CORRIDOR_PATIENCE = 1, 3


class RoutingError(RuntimeError):
    """The router cannot start (for example a pin with no access point)."""


@dataclass
class NetRoute:
    name: str
    terminals: list[int]
    terminal_refs: list[str]
    access: list[Access] = field(default_factory=list)
    nodes: set[int] = field(default_factory=set)
    edges: set[tuple[int, int]] = field(default_factory=set)
    failed: bool = False


class Router:
    """Routes every signal net of a placed layout."""

    def __init__(self, layout: Layout, macros: dict[str, Macro], rules, window: Rect | None = None):
        """``window`` (nm), when given, confines the routing to the grid nodes inside it, as an
        antenna re-route of a few nets needs: every terminal must lie in it, and only the
        instances, shapes and vias within :data:`WINDOW_HALO` of it are looked at."""
        self.layout, self.macros, self.rules = layout, macros, rules
        self.grid = RouteGrid(layout.die, rules, window)
        self.area = None
        if window is not None:
            grid = self.grid
            self.area = (grid.x(0) - WINDOW_HALO, grid.y(0) - WINDOW_HALO,
                         grid.x(grid.nx - 1) + WINDOW_HALO, grid.y(grid.ny - 1) + WINDOW_HALO)
        self.nets: list[NetRoute] = []
        self.unreachable: list[str] = []
        #: per layer, the (column, row) indices of its nodes (for the ports)
        self._valid_nodes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._add_fixed_obstacles()
        self._collect_terminals()

    def _in_area(self, rect) -> bool:
        """Whether ``rect`` reaches into the area the router looks at (everything without a window)."""
        area = self.area
        return area is None or (rect[0] < area[2] and area[0] < rect[2] and rect[1] < area[3] and area[1] < rect[3])

    def _instances(self):
        """The placed instances (name, instance, macro) the router looks at."""
        for name, inst in self.layout.instances.items():
            macro = self.macros[inst.cell]
            if self.area is None or self._in_area((inst.x, inst.y, inst.x + macro.width, inst.y + macro.height)):
                yield name, inst, macro

    # -- set-up -------------------------------------------------------------------------------
    def _add_fixed_obstacles(self) -> None:
        """Cell obstructions and power pins, and every shape and via of a net not routed here,
        block the grid (marked all at once, per layer)."""
        blocked: dict[str, list] = {}
        cell_shapes: dict[str, list] = {}
        for _, inst, macro in self._instances():
            if inst.cell not in cell_shapes:
                cell_shapes[inst.cell] = list(macro.obstructions) + [
                    s for pin in macro.pins.values() if pin.use in ("POWER", "GROUND") for s in pin.shapes]
            for layer, rect in cell_shapes[inst.cell]:
                blocked.setdefault(layer, []).append(_placed(inst, macro, rect))
        routed = {net for net, terminals in self.layout.nets().items() if len(terminals) >= 2}
        for shape in self.layout.shapes:
            if shape.net not in routed and self._in_area(shape.rect):
                blocked.setdefault(shape.layer, []).append(shape.rect)
        arrays = {layer: [np.fromiter(itertools.chain.from_iterable(rects), dtype=np.int64,
                                      count=4 * len(rects)).reshape(-1, 4)] for layer, rects in blocked.items()}
        places: dict[str, list[tuple[int, int]]] = {}
        for via in self.layout.vias:
            places.setdefault(via.via, []).append((via.x, via.y))
        for name, xy in places.items():
            x, y = np.array(xy, dtype=np.int64).T
            for layer, (x0, y0, x1, y1) in self.rules.vias[name].rects.items():
                arrays.setdefault(layer, []).append(np.column_stack((x + x0, y + y0, x + x1, y + y1)))
        for layer, parts in arrays.items():
            self.grid.block(layer, np.concatenate(parts))

    def _port_node(self, port, die_w: int, die_h: int) -> int:
        """The grid node a port is reached at: on the port's layer, at the die edge's first node
        row or column, on the track nearest the pin's centre (a pin off the tracks, as a shuttle
        template may place it, is then joined by the wire's overlap with the pin)."""
        grid = self.grid
        x0, y0, x1, y1 = port.rect
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        layer = grid.layers.index(port.layer)
        if layer not in self._valid_nodes:
            self._valid_nodes[layer] = np.nonzero(grid.valid[layer])
        columns, rows = self._valid_nodes[layer]
        first_x, first_y = self.rules.origin
        if port.side in ("left", "right"):
            edge = first_x if port.side == "left" else die_w - first_x
            i = columns[np.argmin(np.abs(grid.x(columns) - edge))]
            j = rows[np.argmin(np.abs(grid.y(rows) - cy) + (columns != i) * 10**9)]
        else:
            edge = first_y if port.side == "bottom" else die_h - first_y
            j = rows[np.argmin(np.abs(grid.y(rows) - edge))]
            i = columns[np.argmin(np.abs(grid.x(columns) - cx) + (rows != j) * 10**9)]
        return grid.index(layer, int(i), int(j))

    def _collect_terminals(self) -> None:
        grid = self.grid
        nets = {n: t for n, t in self.layout.nets().items() if len(t) >= 2}
        ids = {name: k for k, name in enumerate(sorted(nets))}
        self.nets = [NetRoute(name, [], []) for name in sorted(nets)]
        ports = {p.name: p for p in self.layout.ports}
        for port in self.layout.ports:
            if port.rect is not None:
                grid.add_obstacle(port.layer, port.rect, ids.get(port.net, BLOCKED))
        for shape in self.layout.shapes:
            if shape.net in ids:
                grid.add_obstacle(shape.layer, shape.rect, ids[shape.net])
        _, _, die_w, die_h = self.layout.die
        for name, terminals in nets.items():
            for inst, pin in terminals:
                if inst:
                    continue
                port = ports[pin]
                if port.rect is None:
                    raise RoutingError(f"port {pin!r} has no pin shape; run the floorplan first")
                self._check_inside(port.rect, f"port {pin}")
                node = self._port_node(port, die_w, die_h)
                self.nets[ids[name]].terminals.append(node)
                self.nets[ids[name]].terminal_refs.append(pin)
        instances = list(self._instances())
        blocked: dict[str, list] = {}
        for _, inst, macro in instances:
            for pin, shapes in ((p, macro.pins[p].shapes) for p in macro.signal_pins()):
                owner = ids.get(inst.conns.get(pin), BLOCKED)
                for layer, rect in shapes:
                    if layer == self.rules.pin_layer:
                        continue
                    if owner == BLOCKED:
                        blocked.setdefault(layer, []).append(_placed(inst, macro, rect))
                    else:
                        grid.add_obstacle(layer, _placed(inst, macro, rect), owner)
        for layer, rects in blocked.items():
            grid.block(layer, rects)
        planner = PinAccessPlanner(self.rules, grid)
        placed = sorted(((i.y, i.x, n) for n, i, _ in instances if i.conns))
        if self.area is None:
            planner.add_layout_metal(self.layout, ids)
        else:
            cells = []
            for inst_name, inst in self.layout.instances.items():
                if any(net in ids for net in inst.conns.values()):
                    macro = self.macros[inst.cell]
                    cells.append((inst.x, inst.y, inst.x + macro.width, inst.y + macro.height))
                    self._check_inside(cells[-1], inst_name)
            planner.add_layout_metal(self.layout, ids, cells)
        for _, _, inst_name in placed:
            inst = self.layout.instances[inst_name]
            macro = self.macros[inst.cell]
            pins = [(pin, ids[net], planner.candidates(inst, macro, pin))
                    for pin, net in sorted(inst.conns.items()) if net in ids]
            for pin, access in planner.plan(pins).items():
                net = inst.conns[pin]
                net_id = ids[net]
                if access is None:
                    self.unreachable.append(f"{inst_name}/{pin} ({inst.cell}, net {net})")
                    continue
                for rect in access.shapes:
                    grid.add_obstacle(grid.layers[0], rect, net_id)
                route = self.nets[net_id]
                route.terminals.append(access.node)
                route.terminal_refs.append(f"{inst_name}:{pin}")
                route.access.append(access)

    def _check_inside(self, rect, what: str) -> None:
        """With a window, a terminal's cell or port shape must lie within a grid step of the
        window's outermost nodes (so that the nodes over it are the grid's)."""
        grid = self.grid
        x0, y0, x1, y1 = grid.x(-1), grid.y(-1), grid.x(grid.nx), grid.y(grid.ny)
        if self.area is not None and not (x0 < rect[0] and rect[2] < x1 and y0 < rect[1] and rect[3] < y1):
            raise RoutingError(f"{what} lies outside the routing window ({grid.x(0)}, {grid.y(0)}, "
                               f"{grid.x(grid.nx - 1)}, {grid.y(grid.ny - 1)}) nm")

    # -- search -------------------------------------------------------------------------------
    def _astar(self, net_id: int, source: int, targets: set[int], box, pres: float,
               lane: np.ndarray) -> list[int] | None:
        """Cheapest path from ``source`` to any node of ``targets`` inside ``box`` (and the
        corridor, when ``lane`` has a stamp)."""
        grid, state = self.grid, self.search
        stamp = state.next_stamp()
        nodes = np.fromiter(targets, dtype=np.int64, count=len(targets))
        state.target[nodes] = stamp
        rest = nodes % grid.nxy
        columns, rows = rest // grid.ny, rest % grid.ny
        target_box = np.array([columns.min(), columns.max(), rows.min(), rows.max()], dtype=np.int64)
        path = astar(net_id, source, stamp, np.array(box, dtype=np.int64), target_box, pres,
                     HEURISTIC_WEIGHT, self.shape, self.pitch_um, self.horizontal, self.stride, self.along,
                     self.step_cost, VIA_COST, self.wblk, self.vblk,
                     self.eblk, self.valid, self.occ, self.vocc, self.vocc2, self.hist, state.target, state.best,
                     state.best_stamp, state.parent, state.closed, self.corridor, lane)
        return path.tolist() if len(path) else None

    def _box(self, nodes, margin: int):
        rest = np.fromiter(nodes, dtype=np.int64, count=len(nodes)) % self.grid.nxy
        i, j = rest // self.grid.ny, rest % self.grid.ny
        i0, i1, j0, j1 = int(i.min()), int(i.max()), int(j.min()), int(j.max())
        return (max(0, i0 - margin), min(self.grid.nx - 1, i1 + margin),
                max(0, j0 - margin), min(self.grid.ny - 1, j1 + margin))

    def _route_net(self, net_id: int, pres: float, margins: tuple[int, ...], widen: int) -> None:
        """Route one net, connection by connection; with a global route, in the corridor of
        ``widen`` gcells around the net's global route first."""
        lanes = [self.lane]
        if self.global_route is not None:
            lane = self.lane.copy()
            lane[2] = self.search.next_stamp()
            self.corridor[self.global_route.corridor(net_id, widen)] = lane[2]
            lanes.insert(0, lane)
        route = self.nets[net_id]
        route.nodes, route.edges, route.failed = set(), set(), False
        tree = {route.terminals[0]}
        anchor = self.grid.decode(route.terminals[0])
        rest = sorted(set(route.terminals[1:]) - tree, key=lambda t: sum(
            abs(a - b) for a, b in zip(self.grid.decode(t)[1:], anchor[1:])))
        for terminal in rest:
            if terminal in tree:
                continue
            path = None
            for lane, margin in itertools.product(lanes, margins):
                path = self._astar(net_id, terminal, tree, self._box(list(tree) + [terminal], margin), pres, lane)
                if path:
                    break
            if path is None:
                route.failed = True
                continue
            tree.update(path)
            route.edges.update((min(a, b), max(a, b)) for a, b in zip(path, path[1:]))
        route.nodes = tree

    def _commit(self, route: NetRoute, sign: int) -> None:
        nodes = np.fromiter(route.nodes, dtype=np.int64, count=len(route.nodes))
        self.occ[nodes] += sign
        self.vocc[self._layer0_vias(route)] += sign
        self.vocc2[self._layer1_pads(route) - self.grid.nxy] += sign

    def _layer0_vias(self, route: NetRoute) -> np.ndarray:
        """Lowest-layer nodes where the route takes a via up to the second routing layer."""
        nxy = self.grid.nxy
        return np.array(sorted({a for a, b in route.edges if b - a == nxy and a < nxy}), dtype=np.int64)

    def _layer1_pads(self, route: NetRoute) -> np.ndarray:
        """Second-layer nodes where the route has a via pad (down to the lowest layer or up to the third)."""
        nxy = self.grid.nxy
        pads = {b if a < nxy else a for a, b in route.edges if b - a == nxy and a < 2 * nxy}
        return np.array(sorted(pads), dtype=np.int64)

    def _all_conflicts(self, among: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Nets in conflict with another net, and the nodes where they are (vectorised over all nets,
        or over the nets ``among``, measured against every net's occupancy)."""
        grid, occ, vocc = self.grid, self.occ, self.vocc
        nxy, ny, size = grid.nxy, grid.ny, grid.size
        ids = np.arange(len(self.nets), dtype=np.int64) if among is None else np.array(among, dtype=np.int64)
        nodes, owners = self._node_owners(ids)
        via_lists = [self._layer0_vias(self.nets[k]) for k in ids]
        vias = np.concatenate(via_lists)
        via_owners = np.repeat(ids, [len(x) for x in via_lists])
        bad = occ[nodes] > 1
        layers = nodes // nxy
        stride = self.along[layers]
        own_nodes = np.sort(owners * size + nodes)
        pad_lists = [self._layer1_pads(self.nets[k]) for k in ids]
        own_pads = np.sort(np.repeat(ids, [len(x) for x in pad_lists]) * size + np.concatenate(pad_lists))
        has_pad = _member(own_pads, owners * size + nodes).astype(bool)
        for sign in (-1, 1):
            other = nodes + sign * stride
            check = (layers > 0) & (other >= 0) & (other < size)
            check &= np.where(check, other, 0) // nxy == layers
            other = np.where(check, other, 0)
            foreign = occ[other] - _member(own_nodes, owners * size + other)
            on_met2 = layers == 1
            foreign_pad = self.vocc2[np.clip(other - nxy, 0, nxy - 1)] - _member(own_pads, owners * size + other)
            needs_gap = ~on_met2 | has_pad | (foreign_pad > 0)
            bad |= check & (foreign > 0) & needs_gap
        via_bad = np.zeros(len(vias), dtype=bool)
        own_vias = np.sort(via_owners * nxy + vias)
        for sign in (-1, 1):
            other = vias + sign
            check = (other >= 0) & (other < nxy) & (np.where((other >= 0) & (other < nxy), other, 0) // ny == vias // ny)
            other = np.where(check, other, 0)
            via_bad |= check & (vocc[other] > _member(own_vias, via_owners * nxy + other))
        nets = np.unique(np.concatenate([owners[bad], via_owners[via_bad]]))
        return nets, np.unique(np.concatenate([nodes[bad], vias[via_bad]]))

    def _node_owners(self, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Every routed node of every net (or of the nets ``ids``), and the net each belongs to."""
        ids = np.arange(len(self.nets), dtype=np.int64) if ids is None else ids
        node_lists = [np.fromiter(self.nets[k].nodes, dtype=np.int64, count=len(self.nets[k].nodes)) for k in ids]
        owners = np.repeat(ids, [len(x) for x in node_lists])
        return (np.concatenate(node_lists) if node_lists else np.empty(0, dtype=np.int64)), owners

    def _conflicts_after(self, rerouted: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_all_conflicts` after a round that routed only ``rerouted`` again, when every
        conflict of the round before lay among them: a new conflict needs a re-routed net, so only
        they and the nets within one grid step of their nodes (any partner of a conflict) are
        checked. No conflict found there is confirmed over all nets."""
        nodes, _ = self._node_owners(np.array(rerouted, dtype=np.int64))
        candidates = sorted(set(rerouted) | set(self._nets_near(nodes, 1)))
        found = self._all_conflicts(candidates)
        return found if len(found[0]) else self._all_conflicts()

    def _nets_near(self, nodes: np.ndarray, radius: int) -> list[int]:
        """Nets with a node on any layer within ``radius`` grid steps (in i and j) of one of ``nodes``."""
        grid = self.grid
        rest = nodes % grid.nxy
        i, j = rest // grid.ny, rest % grid.ny
        offsets = np.arange(-radius, radius + 1)
        wi = (i[:, None, None] + offsets[None, :, None]).repeat(len(offsets), axis=2).ravel()
        wj = (j[:, None, None] + offsets[None, None, :]).repeat(len(offsets), axis=1).ravel()
        keep = (wi >= 0) & (wi < grid.nx) & (wj >= 0) & (wj < grid.ny)
        window = np.unique(wi[keep] * grid.ny + wj[keep])
        routed, owners = self._node_owners()
        return np.unique(owners[np.isin(routed % grid.nxy, window)]).tolist()

    # -- main loop ----------------------------------------------------------------------------
    def run(self, *, max_rounds: int = 60, gcell_size: int = 0, log=None) -> dict[str, float]:
        """Route every net; return routing metrics. With ``gcell_size`` (grid steps), a global route
        on gcells of that size first bounds the searches (:data:`CORRIDOR_WIDEN`)."""
        started = time.perf_counter()
        grid = self.grid
        self.wblk = grid.wire_block.ravel()
        self.vblk = grid.via_block.ravel()
        self.eblk = grid.edge_block.ravel()
        self.valid = grid.valid.ravel()
        self.occ = np.zeros(grid.size, dtype=np.int32)
        self.vocc = np.zeros(grid.nxy, dtype=np.int32)
        self.vocc2 = np.zeros(grid.nxy, dtype=np.int32)
        self.hist = np.zeros(grid.size, dtype=np.float64)
        self.search = SearchState(grid.size)
        self.shape = np.array([grid.nxy, grid.ny, grid.size], dtype=np.int64)
        self.along = np.array(grid.along, dtype=np.int64)
        self.pitch_um = np.array([grid.dx / 1000, grid.dy / 1000], dtype=np.float64)
        self.horizontal = np.array(grid.horizontal, dtype=np.bool_)
        self.stride = np.array(grid.stride, dtype=np.int64)
        steps = [(grid.dx * si if h else grid.dy * sj) / 1000 for h, (si, sj) in zip(grid.horizontal, grid.stride)]
        self.step_cost = np.array([step * weight for step, weight in zip(steps, LAYER_WEIGHT)], dtype=np.float64)
        self.global_route, global_metrics = None, {}
        self.corridor, self.lane = np.zeros(1, dtype=np.int32), np.zeros(3, dtype=np.int64)
        if gcell_size:
            self.global_route = GlobalRoute(grid, gcell_size)
            global_metrics = self.global_route.route(grid, [r.terminals for r in self.nets])
            self.corridor = np.zeros(self.global_route.ngx * self.global_route.ngy, dtype=np.int32)
            self.lane = np.array([gcell_size, self.global_route.ngy, 0], dtype=np.int64)
            if log:
                log(f"global route: {global_metrics}")

        def extent(route):
            box = self._box(route.terminals, 0)
            return box[1] - box[0] + box[3] - box[2]

        todo = sorted(range(len(self.nets)), key=lambda k: extent(self.nets[k]))
        #: per round: nets routed and left in conflict, conflicting grid nodes (by layer: overflow),
        #: and the time since the start
        self.rounds: list[dict] = []
        pres, rounds, conflicts, stuck = 0.5, 0, np.empty(0, dtype=np.int64), []
        fewest, stalled = len(self.nets) + 1, 0
        for rounds in range(1, max_rounds + 1):
            widen = CORRIDOR_WIDEN + (rounds - 1) // CORRIDOR_PATIENCE
            for k in todo:
                route = self.nets[k]
                if route.nodes:
                    self._commit(route, -1)
                self._route_net(k, pres, SEARCH_MARGINS[min(rounds, len(SEARCH_MARGINS)) - 1], widen)
                self._commit(route, +1)
            in_conflict, conflicts = (self._conflicts_after(todo) if len(todo) < ENDGAME_NETS
                                      else self._all_conflicts())
            stuck = in_conflict.tolist()
            per_layer = np.bincount(conflicts // grid.nxy, minlength=len(grid.layers))
            self.rounds.append({"round": rounds, "nets_routed": len(todo), "nets_in_conflict": len(stuck),
                                "nodes_in_conflict": len(conflicts),
                                "nodes_in_conflict_by_layer": dict(zip(grid.layers, map(int, per_layer))),
                                "seconds": round(time.perf_counter() - started, 2)})
            if log:
                log(f"round {rounds}: {len(stuck)} nets in conflict, {len(conflicts)} nodes, "
                    f"{time.perf_counter() - started:.1f} s")
            if not stuck:
                break
            fewest, stalled = (len(stuck), 0) if len(stuck) < fewest else (fewest, stalled + 1)
            todo = stuck
            if len(stuck) < ENDGAME_NETS:
                radius = min(RIPUP_RADIUS + RIPUP_GROWTH * (stalled // RIPUP_PATIENCE), RIPUP_RADIUS_MAX)
                near = set(self._nets_near(conflicts, radius)) - set(stuck)
                todo = stuck + sorted(near)
            self.hist[conflicts] += HISTORY_STEP
            pres = min(pres * PRESENT_GROWTH, PRESENT_MAX)
        failed = [r.name for r in self.nets if r.failed]
        in_conflict = [self.nets[k].name for k in stuck]
        self.metrics = {
            "route__nets__count": len(self.nets),
            "route__unrouted__count": len(set(failed) | set(in_conflict)) + len(self.unreachable),
            "route__conflicts__count": len(conflicts),
            "route__unreachable_pins__count": len(self.unreachable),
            "route__rounds__count": rounds,
            "route__wirelength__um": self.wirelength_um(),
            "route__vias__count": sum(1 for r in self.nets for a, b in r.edges if b - a == grid.nxy) + sum(len(r.access) for r in self.nets),
            "route__runtime__s": round(time.perf_counter() - started, 2),
            "route__round_time__max_s": max((b["seconds"] - a["seconds"] for a, b in
                                             zip([{"seconds": 0.0}] + self.rounds, self.rounds)), default=0.0),
            **{f"route__first_round_overflow__{layer}__count": count
               for layer, count in (self.rounds[0]["nodes_in_conflict_by_layer"].items() if self.rounds else ())},
            **global_metrics,
        }
        self.problems = sorted(set(failed) | set(in_conflict)) + self.unreachable
        return self.metrics

    def wirelength_um(self) -> float:
        grid = self.grid
        nxy = grid.nxy
        total = 0
        for r in self.nets:
            for a, b in r.edges:
                if b - a != nxy:
                    layer = a // nxy
                    total += (b - a) // grid.ny * grid.dx if grid.horizontal[layer] else (b - a) * grid.dy
        return round(total / 1000, 1)

    # -- geometry -----------------------------------------------------------------------------
    def write_geometry(self) -> None:
        """Append every net's wires and vias to the layout, mending same-net gaps and small islands.

        Mending sees the net's fixed metal too (:meth:`_fixed_metal`): a via pad one node away from
        the end of a met1 pin is the pin's own net, so no grid rule keeps it away, and the notch
        between pad and pin (0.09-0.135 um beside the wire joining them) breaks met1.2 unless it is
        filled."""
        grid, rules = self.grid, self.rules
        layers = grid.layers
        via_names = [rules.via(lower, upper).name for lower, upper in zip(layers, layers[1:])]
        neighbours = ShapeIndex()
        shapes, vias = list(self.layout.shapes), list(self.layout.vias)

        def fixed():
            """The metal before this routing per layer: rectangles and their nets."""
            found: dict[str, tuple[list, list]] = {}
            for shape in shapes:
                rects, nets = found.setdefault(shape.layer, ([], []))
                rects.append(shape.rect)
                nets.append(shape.net)
            for via in vias:
                for layer, rect in rules.vias[via.via].rects.items():
                    rects, nets = found.setdefault(layer, ([], []))
                    rects.append(moved(rect, via.x, via.y))
                    nets.append(via.net)
            return found

        neighbours.add_fixed_later(fixed)
        ports = {p.name: p for p in self.layout.ports}
        drawn: list[tuple[str, str, list]] = []
        for route in self.nets:
            fixed = self._fixed_metal(route, ports)
            per_layer: dict[str, list] = {name: [] for name in layers}
            for a, b in sorted(route.edges):
                la, ia, ja = grid.decode(a)
                lb, ib, jb = grid.decode(b)
                if la != lb:
                    via = rules.vias[via_names[la]]
                    x, y = grid.x(ia), grid.y(ja)
                    self.layout.vias.append(Via(route.name, via.name, x, y))
                    for layer, rect in via.rects.items():
                        if layer in per_layer:
                            per_layer[layer].append(moved(rect, x, y))
                    continue
                half = grid.rules[la].width // 2
                x0, x1 = sorted((grid.x(ia), grid.x(ib)))
                y0, y1 = sorted((grid.y(ja), grid.y(jb)))
                per_layer[layers[la]].append((x0 - half, y0 - half, x1 + half, y1 + half))
            for access in route.access:
                if access.via_x is not None:
                    self.layout.vias.append(Via(route.name, access.via, access.via_x, access.via_y))
                    per_layer[layers[0]].extend(access.shapes)
            for layer_name, rects in per_layer.items():
                if rects:
                    boxes = mended(rects, rules.layers[layer_name].spacing, rules.hole_fill_nm2,
                                    fixed.get(layer_name, []))
                    drawn.append((route.name, layer_name, boxes))
                    for box in boxes:
                        neighbours.add(layer_name, route.name, box)
        self.islands_left = 0
        for net, layer_name, boxes in drawn:
            layer = rules.layers[layer_name]
            for box in boxes:
                self.layout.shapes.append(Shape(net, layer_name, box))
            for grown in grow_islands(boxes, layer, grid.horizontal[layers.index(layer_name)], net, neighbours,
                                       rules.grid):
                if grown is None:
                    self.islands_left += 1
                    continue
                neighbours.add(layer_name, net, grown)
                self.layout.shapes.append(Shape(net, layer_name, grown))

    def _fixed_metal(self, route: NetRoute, ports: dict) -> dict[str, list]:
        """The net's metal on the routing layers that the router does not draw: its cells' pin
        shapes and its port shapes (``ports`` by name), per layer."""
        fixed: dict[str, list] = {}
        for ref in route.terminal_refs:
            if ":" not in ref:
                fixed.setdefault(ports[ref].layer, []).append(ports[ref].rect)
                continue
            inst_name, pin = ref.split(":")
            inst = self.layout.instances[inst_name]
            macro = self.macros[inst.cell]
            for layer, rect in macro.pins[pin].shapes:
                if layer in self.grid.layers:
                    fixed.setdefault(layer, []).append(_placed(inst, macro, rect))
        return fixed


def _member(sorted_keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """1 where a query is in ``sorted_keys``, else 0."""
    at = np.clip(np.searchsorted(sorted_keys, queries), 0, max(0, len(sorted_keys) - 1))
    return (sorted_keys[at] == queries).astype(np.int32) if len(sorted_keys) else np.zeros(len(queries), np.int32)


def _placed(inst, macro: Macro, rect):
    x0, y0, x1, y1 = rect
    if inst.orient == "FS":
        y0, y1 = macro.height - y1, macro.height - y0
    return (inst.x + x0, inst.y + y0, inst.x + x1, inst.y + y1)
