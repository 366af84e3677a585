import pytest

from thresher.errors import OptionError
from thresher.selection.keep import KeepSpec, parse_keep


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.3", KeepSpec(fraction=0.3)),
        ("1.0", KeepSpec(fraction=1.0)),
        ("1.", KeepSpec(fraction=1.0)),
        (".25", KeepSpec(fraction=0.25)),
        ("5e-1", KeepSpec(fraction=0.5)),
        (" 0.1 ", KeepSpec(fraction=0.1)),
        ("5000", KeepSpec(count=5000)),
        ("1", KeepSpec(count=1)),
    ],
)
def test_parse_keep_accepts_fractions_and_counts(text, expected):
    assert parse_keep(text) == expected


@pytest.mark.parametrize("text", ["0.0", "0.", "1.5", "-0.3", "1e3", "2.0", "0", "-5", "abc", "", "30%", "1/3", "nan"])
def test_parse_keep_rejects_bad_values_naming_the_option_and_value(text):
    with pytest.raises(OptionError) as raised:
        parse_keep(text)
    message = str(raised.value)
    assert "--keep" in message
    assert repr(text) in message


def test_count_is_an_int_and_fraction_is_a_float():
    assert isinstance(parse_keep("5000").count, int)
    assert parse_keep("5000").fraction is None
    assert parse_keep("0.3").count is None


@pytest.mark.parametrize(
    ("spec", "n", "expected"),
    [
        (KeepSpec(fraction=0.3), 1000, 300),
        (KeepSpec(fraction=0.3), 7, 2),  # round(2.1)
        (KeepSpec(fraction=0.5), 5, 2),  # round(2.5) is 2 (round half to even)
        (KeepSpec(fraction=0.01), 10, 1),  # round(0.1) = 0, raised to 1
        (KeepSpec(fraction=1.0), 1200, 1200),
        (KeepSpec(fraction=0.3), 0, 0),
        (KeepSpec(count=5000), 5000, 5000),
        (KeepSpec(count=3), 1200, 3),
    ],
)
def test_resolve(spec, n, expected):
    assert spec.resolve(n) == expected


def test_resolve_count_larger_than_input_is_an_error():
    with pytest.raises(OptionError, match="^--keep 5000 exceeds the 1200 examples in the input$"):
        parse_keep("5000").resolve(1200)


@pytest.mark.parametrize(
    "kwargs", [{}, {"fraction": 0.5, "count": 3}, {"fraction": 0.0}, {"fraction": 1.5}, {"count": 0}]
)
def test_keepspec_rejects_inconsistent_construction(kwargs):
    with pytest.raises(OptionError, match="--keep"):
        KeepSpec(**kwargs)
