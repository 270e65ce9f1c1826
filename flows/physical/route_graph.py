"""The routed nets as the SPEF writer's wire, via and pin graph (:mod:`kchip.flows.timing.spef`)."""

from __future__ import annotations

from kchip.flows.physical.router import Router
from kchip.flows.timing.spef import PinNode, RoutedNet, Segment, ViaHop


def routed_nets(router: Router) -> list:
    """The routed nets as the SPEF writer's wire/via/pin graph (nodes keyed by grid index)."""
    grid, rules, layout = router.grid, router.rules, router.layout
    layers = grid.layers
    cuts = [rules.via(lower, upper).cut(rules.cut_layers)[0] for lower, upper in zip(layers, layers[1:])]
    pin_cut = rules.via(rules.pin_layer, layers[0]).cut(rules.cut_layers)[0]
    ports = {p.name: p for p in layout.ports}
    directions = {"INPUT": "I", "OUTPUT": "O", "input": "I", "output": "O"}
    nets = []
    for route in router.nets:
        net = RoutedNet(route.name)
        for a, b in sorted(route.edges):
            la, ia, ja = grid.decode(a)
            lb, ib, jb = grid.decode(b)
            if la != lb:
                net.vias.append(ViaHop(a, b, cuts[min(la, lb)]))
            else:
                length = (abs(grid.x(ia) - grid.x(ib)) + abs(grid.y(ja) - grid.y(jb))) / 1000
                net.segments.append(Segment(a, b, layers[la], length, grid.rules[la].width / 1000))
        cell_refs = [ref for ref in route.terminal_refs if ":" in ref]
        has_via = {ref: access.via_x is not None for ref, access in zip(cell_refs, route.access)}
        for node, ref in zip(route.terminals, route.terminal_refs):
            if ":" in ref:
                inst, pin = ref.split(":")
                direction = directions.get(router.macros[layout.instances[inst].cell].pins[pin].direction, "B")
                if has_via[ref]:
                    net.pins.append(PinNode(("pin", ref), ref, direction))
                    net.vias.append(ViaHop(("pin", ref), node, pin_cut))
                else:
                    net.pins.append(PinNode(node, ref, direction))
            else:
                net.pins.append(PinNode(node, ref, directions.get(ports[ref].direction, "B")))
        nets.append(net)
    return nets
