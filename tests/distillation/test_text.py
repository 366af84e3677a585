"""One normalisation for training and scoring: whitespace, case, and fastText's label prefix."""

import re

import pytest

from thresher.distillation.text import normalise_text


@pytest.mark.parametrize(
    ("text", "lowercase", "expected"),
    [
        ("  two\nlines\r\n\tand  tabs ", False, "two lines and tabs"),
        ("Mixed CASE\u00a0text", True, "mixed case text"),
        ("Mixed CASE", False, "Mixed CASE"),
        ("__label__positive looks like a label", False, "___label__positive looks like a label"),
        ("not__label__ at a word start", False, "not__label__ at a word start"),
        ("a\n__label__x", False, "a ___label__x"),
        ("unicode\u2028line\u3000and\x85breaks\x1cto", False, "unicode line and breaks to"),
    ],
)
def test_normalise_text(text, lowercase, expected):
    assert normalise_text(text, lowercase=lowercase) == expected
    assert "\n" not in normalise_text(text, lowercase=lowercase)
    # The same as collapsing every run of regex whitespace.
    collapsed = re.sub(r"\s+", " ", text).strip()
    assert normalise_text(text) == re.sub(r"(^| )__label__", r"\1___label__", collapsed)
