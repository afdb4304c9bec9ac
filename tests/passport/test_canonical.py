"""RFC 8785 canonical JSON: number forms, key order by UTF-16 code units, minimal escapes."""

import math

import pytest

from monitor.passport.canonical import CanonicalError, canonical


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (5.0, "5"),
        (100.0, "100"),
        (-0.5, "-0.5"),
        (4.5, "4.5"),
        (0.002, "0.002"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (1.5e-5, "0.000015"),
        (333333333.3333333, "333333333.3333333"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.2345678901234568e21, "1.2345678901234568e+21"),
        (9007199254740992.0, "9007199254740992"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (1216.6000000000001, "1216.6000000000001"),
    ],
)
def test_numbers_print_as_ecmascript_does(value: float, text: str) -> None:
    assert canonical(value) == text.encode()


def test_members_sorted_by_utf16_code_units_no_whitespace_minimal_escapes() -> None:
    doc = {"b": [1, 2.0, None, True, False], "a": 'é\n\t\u0001"\\', "\u20ac": 1, "\U0001f600": 2, "\ufb33": 3}
    want = '{"a":"\u00e9' + r"\n\t\u0001\"\\" + '","b":[1,2,null,true,false],"\u20ac":1,"\U0001f600":2,"\ufb33":3}'
    assert canonical(doc) == want.encode("utf-8")


def test_the_same_value_serialised_differently_canonicalises_the_same() -> None:
    assert canonical({"x": 1.0, "y": {"b": 2, "a": 1}}) == canonical({"y": {"a": 1, "b": 2.0}, "x": 1})


@pytest.mark.parametrize("bad", [math.nan, math.inf, 2**60, {1: "x"}, b"bytes"])
def test_values_without_a_json_form_are_refused_with_their_path(bad: object) -> None:
    with pytest.raises(CanonicalError, match=r"\$\.lot\.x"):
        canonical({"lot": {"x": bad}})
