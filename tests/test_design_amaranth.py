"""The generator loader runs only Amaranth generators, and converts them in one place."""

from __future__ import annotations

import sys
import textwrap

import pytest

from kchip.design.amaranth import GeneratorError, build, load_generator, to_verilog


@pytest.fixture
def generators(tmp_path, monkeypatch):
    """A module ``user_generators`` with a harmless-looking function that leaves a trace when called."""
    trace = tmp_path / "called"
    (tmp_path / "user_generators.py").write_text(textwrap.dedent(f"""
        from pathlib import Path
        from amaranth import Elaboratable, Module
        from amaranth.lib import wiring
        from amaranth.lib.wiring import Out

        def run(**parameters):
            Path({str(trace)!r}).write_text("called")

        class Blinker(wiring.Component):
            def __init__(self, width=4):
                super().__init__({{"out": Out(width)}})
            def elaborate(self, platform):
                m = Module()
                m.d.sync += self.out.eq(self.out + 1)
                return m

        def make_blinker(width: int = 4) -> Blinker:
            return Blinker(width)

        def lying(width: int = 4) -> Blinker:
            return "not a design"

        class Bare(Elaboratable):
            def elaborate(self, platform):
                return Module()
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield trace
    sys.modules.pop("user_generators", None)


def test_an_arbitrary_callable_is_refused_without_being_called(generators):
    with pytest.raises(GeneratorError, match=r"'user_generators:run' is function .* not an Amaranth generator"):
        build("user_generators:run", {"args": "touch /tmp/x"}, "design.toml: source.amaranth")
    assert not generators.exists()
    with pytest.raises(GeneratorError, match="not an Amaranth generator"):
        load_generator("subprocess:run", "design.toml: source.amaranth")


def test_elaboratable_classes_and_annotated_factories_are_accepted(generators):
    assert "module blink" in to_verilog(build("user_generators:Blinker", {"width": 3}, "o"), "blink")
    assert "module blink" in to_verilog(build("user_generators:make_blinker", {}, "o"), "blink")


def test_a_factory_returning_something_else_is_refused(generators):
    with pytest.raises(GeneratorError, match="returned str, not an Amaranth wiring.Component"):
        build("user_generators:lying", {}, "o")
    with pytest.raises(GeneratorError, match="Bare.* not an Amaranth generator"):
        build("user_generators:Bare", {}, "o")


def test_missing_names_list_what_the_module_offers(generators):
    with pytest.raises(GeneratorError, match="has no 'Blink'; its Component classes: Blinker"):
        load_generator("user_generators:Blink", "o")
    with pytest.raises(GeneratorError, match="module 'no_such_module' cannot be imported"):
        load_generator("no_such_module:X", "o")


def test_parameters_the_generator_rejects_are_named(generators):
    with pytest.raises(GeneratorError, match=r"rejected parameters \{'depth': 3\}"):
        build("user_generators:Blinker", {"depth": 3}, "o")
