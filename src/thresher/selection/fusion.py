"""Score fusion: several score columns, each taken in its recorded direction, made into one importance score.

`select --by a,b,c --fuse rank-mean | z-mean | weights=0.5,0.3,0.2` is the static form of multi-actor data
selection (Bai et al. 2024, "Efficient Pretraining Data Selection via Multi-Actor Collaboration"): several
selectors' scores combined by fixed weights. Every column is first turned so that higher = more important
(`strategies.importance`), then:

- `rank-mean`: each column's average ranks (ties share the mean of their ranks) scaled to [0, 1], i.e.
  (rank − 1)/(n − 1), averaged over the columns; the fused score is in [0, 1], so `pareto` can use it;
- `z-mean`: each column standardised, (x − mean)/std (population std; a constant column gives 0 everywhere),
  averaged over the columns;
- `weights=w1,w2,...`: the weighted mean of the z-scores, one non-negative weight per column, in `--by` order.

The fused score is higher = more important, and any strategy that ranks by a score uses it. Ranks and means need
the whole column, so fusion reads its columns into memory (8 bytes a row per column, plus the fused score) and the
strategy then chooses in memory. A NaN in any column is an error naming the column, as for a single column.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from thresher.errors import OptionError
from thresher.types import Direction

RANK_MEAN = "rank-mean"
Z_MEAN = "z-mean"
WEIGHTS = "weights"
FUSIONS = (RANK_MEAN, Z_MEAN, f"{WEIGHTS}=W1,W2,...")


@dataclass(frozen=True)
class Fusion:
    """How to fuse columns: `method` one of rank-mean, z-mean, weights (then `weights`, one per column)."""

    method: str
    weights: tuple[float, ...] | None = None

    def __str__(self) -> str:
        if self.method == WEIGHTS:
            assert self.weights is not None
            return f"{WEIGHTS}={','.join(f'{weight:g}' for weight in self.weights)}"
        return self.method

    def label(self, columns: Sequence[str]) -> str:
        """How reports name the fused score: `rank-mean(a,b)`."""
        return f"{self}({','.join(columns)})"


def parse_fuse(text: str, flag: str = "--fuse") -> Fusion:
    """The `Fusion` that a `--fuse` value names; `OptionError` for anything else."""
    value = text.strip()
    if value in (RANK_MEAN, Z_MEAN):
        return Fusion(value)
    name, equals, listed = value.partition("=")
    if name.strip() == WEIGHTS and equals:
        weights = []
        for part in listed.split(","):
            try:
                weight = float(part)
            except ValueError:
                raise OptionError(f"{flag} {text}: weight {part.strip()!r} is not a number") from None
            if not (math.isfinite(weight) and weight >= 0):
                raise OptionError(f"{flag} {text}: weights must be finite and non-negative")
            weights.append(weight)
        if sum(weights) <= 0:
            raise OptionError(f"{flag} {text}: the weights sum to 0; give at least one positive weight")
        return Fusion(WEIGHTS, tuple(weights))
    raise OptionError(f"{flag} {text!r}: choose {', '.join(FUSIONS)}")


def split_columns(by: str | Sequence[str], flag: str = "--by") -> list[str]:
    """The column names of `--by a,b,c` (or a list), each once."""
    names = [part.strip() for part in by.split(",")] if isinstance(by, str) else [str(part).strip() for part in by]
    names = [name for name in names if name]
    if len(set(names)) != len(names):
        raise OptionError(f"{flag} {','.join(names)}: a column is named twice")
    return names


def check_fusable(fusion: Fusion, columns: Sequence[str], flag: str = "--by", fuse_flag: str = "--fuse") -> None:
    """`OptionError` unless there are at least two columns and, with weights, one weight per column."""
    if len(columns) < 2:
        raise OptionError(f"{fuse_flag} {fusion} needs at least two columns: {flag} a,b[,c...]")
    if fusion.weights is not None and len(fusion.weights) != len(columns):
        raise OptionError(
            f"{fuse_flag} {fusion} gives {len(fusion.weights)} weights for the {len(columns)} columns of "
            f"{flag} {','.join(columns)}"
        )


def rank_scores(importance: np.ndarray) -> np.ndarray:
    """Average ranks scaled to [0, 1]: the least important row 0, the most important 1 (one row: 0.5)."""
    from scipy.stats import rankdata  # here: `thresher select` without --fuse never loads scipy

    values = np.asarray(importance, dtype=np.float64)
    if values.size < 2:
        return np.full(values.size, 0.5)
    return (rankdata(values, method="average") - 1.0) / (values.size - 1.0)


def z_scores(importance: np.ndarray) -> np.ndarray:
    """(x − mean) / std with the population std; zeros when the column is constant (it ranks nothing)."""
    values = np.asarray(importance, dtype=np.float64)
    if not np.isfinite(values).all():
        raise OptionError("--fuse z-mean and weights need finite scores; a column holds infinite values")
    spread = float(values.std()) if values.size else 0.0
    if spread == 0.0:
        return np.zeros(values.size)
    return (values - values.mean()) / spread


def fuse(values: Mapping[str, np.ndarray], directions: Mapping[str, Direction | None], fusion: Fusion) -> np.ndarray:
    """The fused importance of every row (higher = more important) from the raw `values` of each column.

    Parameters
    ----------
    values:
        Column name → its raw values, one per row, in `--by` order (weights follow this order).
    directions:
        Column name → its recorded direction; a column without one (a flag, ids) cannot be fused.
    fusion:
        How to fuse (`parse_fuse`).
    """
    names = list(values)
    check_fusable(fusion, names)
    sizes = {np.asarray(column).size for column in values.values()}
    if len(sizes) != 1:
        raise OptionError(f"--fuse: the columns {', '.join(names)} have different lengths")
    turned = []
    for name in names:
        direction = directions.get(name)
        if direction is None:
            raise OptionError(f"--fuse: {name} is not a score column (it has no direction); fusion takes scores")
        column = np.asarray(values[name], dtype=np.float64)
        missing = int(np.isnan(column).sum())
        if missing:
            raise OptionError(
                f"--fuse: {missing} of {column.size} values of {name} are NaN; fill or filter them before fusing"
            )
        turned.append(-column if Direction(direction) is Direction.LOWER else column)
    if fusion.method == RANK_MEAN:
        return np.mean([rank_scores(column) for column in turned], axis=0)
    standardised = np.array([z_scores(column) for column in turned])
    if fusion.method == Z_MEAN:
        return standardised.mean(axis=0)
    assert fusion.weights is not None
    weights = np.asarray(fusion.weights, dtype=np.float64)
    return weights @ standardised / weights.sum()
