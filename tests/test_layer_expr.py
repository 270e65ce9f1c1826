"""The derived-layer expressions of [layout_rules.derived]: grammar, errors and what they compute."""

import klayout.db as kdb
import pytest

from kchip.flows.signoff.layer_expr import LayerExprError, evaluate, names, parse


def box(x1, y1, x2, y2) -> kdb.Region:
    return kdb.Region(kdb.Box(x1, y1, x2, y2))


REGIONS = {"A": box(0, 0, 10, 10), "B": box(5, 0, 15, 10), "C.block": box(0, 0, 2, 2)}


def area(text: str) -> int:
    return evaluate(parse(text), REGIONS.__getitem__).area()


@pytest.mark.parametrize("text, expected", [
    ("A", 100), ("A & B", 50), ("A | B", 150), ("A - B", 50), ("A ^ B", 100),
    ("A - B - C.block", 46),           # left to right: (A - B) - C.block
    ("A - (B | C.block)", 46), ("(A | B) & B", 100), ("A | B & B", 100),
    ("A - B & C.block", 4),            # same precedence: (A - B) & C.block, not A - (B & C.block)
])
def test_operators_combine_left_to_right(text, expected):
    assert area(text) == expected


def test_functions():
    ring = box(0, 0, 10, 10) - box(3, 3, 6, 6)
    bar = box(20, 0, 30, 2)
    regions = {"ring": ring, "mixed": box(0, 0, 2, 2) + bar}
    assert evaluate(parse("holes(ring)"), regions.__getitem__).area() == 9
    assert evaluate(parse("non_squares(mixed)"), regions.__getitem__).area() == bar.area()


def test_names_lists_every_layer_read():
    assert names(parse("non_squares(Cont - EdgeSeal) & (Activ | nSD.block)")) == {"Cont", "EdgeSeal", "Activ",
                                                                                  "nSD.block"}


@pytest.mark.parametrize("text, says", [
    ("", "empty"), ("A &", "ends where"), ("A B", "unexpected 'B'"), ("(A | B", "expected ')'"),
    ("sized(A)", "unknown function 'sized'"), ("A + B", "unexpected '+"), ("& A", "'&' where"),
])
def test_bad_expressions_say_what_is_wrong(text, says):
    with pytest.raises(LayerExprError, match=says.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        parse(text)


def test_selections_keep_whole_polygons():
    """``A <selection> B`` keeps polygons of A whole, as KLayout's methods of the same names."""
    regions = {
        "A": box(0, 0, 4, 4) + box(10, 0, 14, 4) + box(20, 0, 24, 4),
        "inner": box(1, 1, 2, 2),              # inside the first polygon of A
        "straddle": box(13, 1, 16, 2),         # across the edge of the second
        "beside": box(24, 0, 30, 4),           # shares the third's right edge
    }

    def lefts(text):
        return sorted(p.bbox().left for p in evaluate(parse(text), regions.__getitem__).each())

    assert lefts("A interacting inner") == [0]
    assert lefts("A interacting (inner | straddle)") == [0, 10]
    assert lefts("A not_interacting straddle") == [0, 20]
    assert lefts("A covering inner") == [0]
    assert lefts("inner inside A") == [1] and lefts("straddle inside A") == []
    assert lefts("straddle not_inside A") == [13] and lefts("straddle outside A") == []
    assert lefts("beside outside A") == [24] and lefts("straddle not_outside A") == [13]
    assert lefts("A abutting beside") == [20] and lefts("A abutting straddle") == []
