"""Class labels: the one order in which every labelled component numbers the classes.

Scorers that train a proxy or a surrogate, and the eval harness's classify target, all turn labels into class
indices; they must agree, or a score's "gold class" and the target's differ. The order is the labels' natural order
when they are mutually comparable (numbers, or strings), else their string forms' order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def class_order(labels: Iterable[Any]) -> list[Any]:
    """The distinct labels, in the order whose positions are the class indices."""
    distinct = set(labels)
    try:
        return sorted(distinct)
    except TypeError:  # mixed types (1 and "1"): order by text, then type name, so the order is still total
        return sorted(distinct, key=lambda label: (str(label), type(label).__name__))


def class_index(labels: Iterable[Any]) -> dict[Any, int]:
    """Label -> class index, in `class_order`."""
    return {label: index for index, label in enumerate(class_order(labels))}
