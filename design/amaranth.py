"""Amaranth generators: the one loader of a ``"module:Callable"`` generator and the one conversion
of an Amaranth design to Verilog.

A design file names its generator as ``source.amaranth = "package.module:Callable"``. Loading it
imports that module and so runs its Python code, as any Python package does. The loader accepts only
an Amaranth component: a class deriving from ``amaranth.lib.wiring.Component`` (whose signature gives
the ports) or a function annotated to return one, and it checks that the call really returned one.
A function such as ``subprocess:run`` is refused before it is called.
"""

from __future__ import annotations

import importlib
import inspect
import typing
from typing import Any


class GeneratorError(ValueError):
    """A generator that cannot be loaded or called; the message names it and what is valid."""


def _component_type():
    """Amaranth designs kchip can convert: components, whose signature gives the ports."""
    from amaranth.lib.wiring import Component
    return Component


def _returns_component(function) -> bool:
    try:
        hint = typing.get_type_hints(function).get("return")
    except Exception:  # an annotation that does not evaluate says nothing usable
        return False
    return inspect.isclass(hint) and issubclass(hint, _component_type())


def load_generator(spec: str, origin: str) -> Any:
    """The class or function ``spec`` (``"module:Callable"``) names, if it builds a Component."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise GeneratorError(f"{origin} = {spec!r}: expected 'package.module:Callable'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise GeneratorError(f"{origin} = {spec!r}: module {module_name!r} cannot be imported: {exc}") from None
    if not hasattr(module, attribute):
        public = sorted(n for n, v in vars(module).items() if not n.startswith("_") and inspect.isclass(v)
                        and issubclass(v, _component_type()) and v.__module__ == module.__name__)
        raise GeneratorError(f"{origin} = {spec!r}: module {module_name!r} has no {attribute!r}; "
                             f"its Component classes: {', '.join(public) or 'none'}")
    target = getattr(module, attribute)
    if inspect.isclass(target) and issubclass(target, _component_type()):
        return target
    if inspect.isfunction(target) and _returns_component(target):
        return target
    raise GeneratorError(f"{origin} = {spec!r} is {type(target).__name__} {target!r}, not an Amaranth "
                         f"generator: name a class deriving from amaranth.lib.wiring.Component or a function "
                         f"annotated to return one")


def build(spec: str, parameters: dict, origin: str) -> Any:
    """Call the generator ``spec`` with ``parameters``; its own errors become GeneratorError."""
    factory = load_generator(spec, origin)
    try:
        design = factory(**parameters)
    except (TypeError, ValueError) as exc:
        raise GeneratorError(f"{origin} = {spec!r} rejected parameters {parameters!r}: {exc}") from None
    if not isinstance(design, _component_type()):
        raise GeneratorError(f"{origin} = {spec!r} returned {type(design).__name__}, not an Amaranth "
                             f"wiring.Component")
    return design


def to_verilog(design, top: str) -> str:
    """Verilog of an Amaranth design with module name ``top``, without source locations or
    internal attributes (the form every kchip reader and simulator is given)."""
    from amaranth.back import verilog
    return verilog.convert(design, name=top, emit_src=False, strip_internal_attrs=True)
