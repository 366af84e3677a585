"""Selection pipelines: a YAML file of ordered steps, each a strategy choosing among the rows the steps before it kept.

Real curation is a pipeline (datatrove's and data-juicer's configs are): dedup, then drop junk, then sample by
quality. A pipeline file::

    steps:
      - {by: minhash_keep, strategy: dedup}                  # no size: every row the strategy keeps
      - {by: nll_mean, strategy: bottom, drop: 0.05}         # drop 5 % of the rows left
      - by: fasttext_score
        strategy: softmax
        keep: 0.3                                            # keep 30 % of the rows left
        params: {temperature: 0.5}

Each step is a mapping with

- `strategy` (required): a registered strategy (`thresher strategies`);
- `by`: its column, as `select --by` (omitted for strategies that read none, or that have a default column such as
  dedup's keep flags); a list of columns with `fuse` (`rank-mean`, `z-mean`, `weights=...`, as `select --fuse`),
  fused over the rows the step receives;
- a size, relative to the rows the step receives: `keep` (a fraction such as 0.3, or a count such as 5000) or
  `drop` (a fraction such as 0.05, or a count). A step without a size keeps every row its strategy chooses (dedup,
  threshold, pareto, band), except the last step, which may take its size from the command: `select --keep K`
  (or `--budget-tokens N`) and each of eval's keep ratios size the pipeline's output, as a fraction of the whole
  input, like every other method's. A last step with its own size and a `--keep` is an error: one of them is
  meant;
- `params`: the strategy's parameters (`-p` does not reach the steps; they live in the file).

A step draws with the run's seed (the first step) or a seed derived from it and the step's number, so a one-step
pipeline keeps exactly what `select --by ... --strategy ...` keeps in memory. The steps choose in memory (the
columns they read, 8 bytes a row each); each step's rows received, kept and dropped are reported.
"""

from __future__ import annotations

import hashlib
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from thresher.components import Chosen, assignments_from_mapping, build, resolve_params
from thresher.errors import OptionError, ThresherError
from thresher.selection import strategies
from thresher.selection.base import IMPORTANCE, LABELS, TEXTS, VALUES, Budget, Strategy, StrategyInputs, Texts
from thresher.selection.fusion import Fusion, check_fusable, fuse, parse_fuse
from thresher.selection.registry import STRATEGIES, every_strategy
from thresher.selection.run import run_strategy
from thresher.types import ColumnKind, Direction

STEP_KEYS = ("strategy", "by", "fuse", "keep", "drop", "params")


@dataclass(frozen=True)
class StepSize:
    """How many of the rows a step receives it keeps: `keep` or `drop`, each a fraction or a count."""

    kind: str  # "keep" or "drop"
    fraction: float | None = None
    count: int | None = None

    def __str__(self) -> str:
        return f"{self.kind} {self.fraction:g}" if self.fraction is not None else f"{self.kind} {self.count}"

    def rows_kept(self, received: int) -> int:
        """The rows kept of `received`; `OptionError` for a count above them."""
        if self.count is not None and self.count > received:
            raise OptionError(f"{self} is more than the {received} rows left")
        if self.kind == "keep":
            if self.count is not None:
                return self.count
            assert self.fraction is not None
            return max(1, round(self.fraction * received)) if received else 0
        dropped = self.count if self.count is not None else round((self.fraction or 0.0) * received)
        return received - dropped


def parse_size(kind: str, value: Any) -> StepSize:
    """`keep: 0.3 | 5000` or `drop: 0.05 | 100` as a `StepSize`; `OptionError` (without the place) otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | str):
        raise OptionError(f"{kind}: expected a fraction such as 0.3 or a count such as 5000, got {value!r}")
    text = str(value).strip()
    is_count = isinstance(value, numbers.Integral) or text.lstrip("+-").isdigit()
    try:
        number = float(text)
    except ValueError:
        raise OptionError(f"{kind}: expected a fraction such as 0.3 or a count such as 5000, got {value!r}") from None
    if is_count:
        least = 1 if kind == "keep" else 0
        if number < least:
            raise OptionError(f"{kind}: a count must be at least {least}, got {text}")
        return StepSize(kind, count=int(number))
    inside = 0.0 < number <= 1.0 if kind == "keep" else 0.0 <= number < 1.0
    if not inside:
        allowed = "greater than 0 and at most 1" if kind == "keep" else "at least 0 and below 1"
        raise OptionError(f"{kind}: a fraction must be {allowed}, got {text}")
    return StepSize(kind, fraction=number)


@dataclass(frozen=True)
class Step:
    """One step of a pipeline, its strategy built from the file's parameters."""

    number: int  # 1-based, as messages name it
    strategy: str
    built: Strategy = field(compare=False, repr=False)
    by: tuple[str, ...] = ()  # none (default column or none), one column, or several with `fusion`
    fusion: Fusion | None = None
    size: StepSize | None = None

    @property
    def params(self) -> dict[str, Any]:
        return self.built.params_record()

    def record(self) -> dict[str, Any]:
        """The step as the file would write it, its parameters resolved."""
        entry: dict[str, Any] = {"strategy": self.strategy}
        if self.by:
            entry["by"] = self.by[0] if len(self.by) == 1 else list(self.by)
        if self.fusion is not None:
            entry["fuse"] = str(self.fusion)
        if self.size is not None:
            entry[self.size.kind] = self.size.fraction if self.size.fraction is not None else self.size.count
        if self.params:
            entry["params"] = self.params
        return entry


@dataclass(frozen=True)
class Pipeline:
    """The steps of a pipeline file, validated; `path` names it in messages."""

    path: Path
    steps: tuple[Step, ...]

    def where(self, step: Step) -> str:
        return f"{self.path}: step {step.number}"

    def record(self) -> list[dict[str, Any]]:
        return [step.record() for step in self.steps]


def load_pipeline(path: str | Path, *, text_field: str = "text") -> Pipeline:
    """The pipeline in the YAML file at `path`, every step checked; `OptionError` naming the file and the step.

    `text_field` is what DSIR reads its target with unless its step sets `target_text_field`.
    """
    import yaml

    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OptionError(f"{path}: no such pipeline file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise OptionError(f"{path}: cannot read the pipeline file: {error}") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" line {mark.line + 1}:" if mark is not None else ""
        raise OptionError(f"{path}:{line} not valid YAML: {getattr(error, 'problem', None) or error}") from None
    if not isinstance(document, Mapping) or "steps" not in document:
        raise OptionError(f"{path}: a pipeline file is a mapping with a `steps:` list")
    unknown = sorted(str(key) for key in document if key != "steps")
    if unknown:
        raise OptionError(f"{path}: unknown key {unknown[0]!r}; a pipeline file holds only `steps:`")
    entries = document["steps"]
    if not isinstance(entries, list) or not entries:
        raise OptionError(f"{path}: steps: expected a non-empty list of steps")
    steps = tuple(
        _parse_step(entry, number, path, text_field, last=number == len(entries))
        for number, entry in enumerate(entries, start=1)
    )
    return Pipeline(path, steps)


def _parse_step(entry: Any, number: int, path: Path, text_field: str, *, last: bool) -> Step:
    where = f"{path}: step {number}"
    if not isinstance(entry, Mapping):
        raise OptionError(f"{where}: expected a mapping such as {{by: nll_mean, strategy: top, keep: 0.5}}")
    unknown = sorted(str(key) for key in entry if key not in STEP_KEYS)
    if unknown:
        raise OptionError(f"{where}: unknown key {unknown[0]!r}; a step takes {', '.join(STEP_KEYS)}")
    name = entry.get("strategy")
    if not isinstance(name, str) or not name:
        raise OptionError(f"{where}: needs a strategy (strategy: top, softmax, dedup, ...)")
    if name not in STRATEGIES:
        raise OptionError(f"{where}: unknown strategy {name!r}; choose one of {', '.join(STRATEGIES.names())}")
    cls = STRATEGIES.get(name)
    try:
        by = _parse_by(entry.get("by"))
        fusion = parse_fuse(str(entry["fuse"]), "fuse:") if entry.get("fuse") is not None else None
        _check_columns(name, cls, by, fusion)
        if "keep" in entry and "drop" in entry:
            raise OptionError("give keep or drop, not both")
        size = next((parse_size(kind, entry[kind]) for kind in ("keep", "drop") if kind in entry), None)
        if size is None and not last and not cls.budget_optional:
            raise OptionError(f"strategy {name} needs a size: keep: or drop: (only the last step may take --keep's)")
        params = entry.get("params") or {}
        if not isinstance(params, Mapping):
            raise OptionError("params: expected a mapping of NAME: VALUE")
        layer = assignments_from_mapping(params, "params")
        resolved = resolve_params(
            [Chosen(name, cls)],
            [layer],
            forwarded={"target_text_field": text_field},
            known=every_strategy,
            flags={"target_text_field": "--text-field"},
        )
        built = build(cls, resolved[name])
    except ThresherError as error:
        raise OptionError(f"{where}: {error}") from None
    return Step(number, name, built, by, fusion, size)


def _parse_by(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(item, str) and item for item in names):
        raise OptionError(f"by: expected a column name or a list of them, got {value!r}")
    if len(set(names)) != len(names):
        raise OptionError(f"by: a column is named twice ({', '.join(names)})")
    return tuple(names)


def _check_columns(name: str, cls: type[Strategy], by: tuple[str, ...], fusion: Fusion | None) -> None:
    if by and not cls.reads_column():
        raise OptionError(f"strategy {name} chooses without a score column; remove by: {', '.join(by)}")
    if fusion is not None:
        check_fusable(fusion, by, "by:", "fuse:")
        if IMPORTANCE not in cls.needs and VALUES not in cls.needs or ColumnKind.SCORE not in cls.column_kinds:
            raise OptionError(f"strategy {name} does not choose by a score, so it cannot take a fused one")
    elif len(by) > 1:
        raise OptionError(f"by: several columns ({', '.join(by)}) need fuse: rank-mean, z-mean or weights=...")


class ColumnValues(Protocol):
    """A score column's values over the rows a pipeline chooses from, and its direction (None for flags)."""

    @property
    def values(self) -> np.ndarray: ...

    @property
    def direction(self) -> Direction | None: ...


@dataclass(frozen=True)
class StepColumn:
    """A column's values over every row and its direction: the `ColumnValues` that `thresher select` reads."""

    values: np.ndarray
    direction: Direction | None


@dataclass(frozen=True)
class StepReport:
    """What one step did: the rows it received and kept (dropped = received − kept)."""

    step: int
    strategy: str
    by: str
    received: int
    kept: int

    @property
    def dropped(self) -> int:
        return self.received - self.kept

    def record(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "strategy": self.strategy,
            "by": self.by,
            "received": self.received,
            "kept": self.kept,
            "dropped": self.dropped,
        }


def step_seed(seed: int, number: int) -> int:
    """The seed step `number` draws with: the run's seed for step 1, a blake2b hash of (seed, number) after, so the
    steps' draws are unrelated to each other and to the runs of other seeds."""
    if number == 1:
        return seed
    digest = hashlib.blake2b(f"{seed}/step-{number}".encode("ascii"), digest_size=4).digest()
    return int.from_bytes(digest, "little")


def resolve_columns(
    pipeline: Pipeline,
    kinds: Mapping[str, ColumnKind],
    *,
    source: str,
) -> tuple[tuple[str, ...], ...]:
    """Each step's columns, a default column (dedup's keep flag) filled in, checked against the score directory.

    `kinds` maps every column present to its kind; `source` names where they are, for messages.
    """
    from thresher.selection.inputs import check_column_kind

    resolved = []
    known = ", ".join(sorted(kinds)) or "none"
    for step in pipeline.steps:
        cls = type(step.built)
        where = pipeline.where(step)
        names = step.by
        if not names and cls.reads_column():
            present = [column for column in cls.default_columns if column in kinds]
            if len(present) != 1:
                wanted = " or ".join(present or cls.default_columns)
                raise OptionError(
                    f"{where}: strategy {step.strategy} needs by: COLUMN"
                    + (f" ({wanted})" if wanted else "")
                    + ("" if present else f"; available in {source}: {known}")
                )
            names = (present[0],)
        for column in names:
            if column not in kinds:
                raise OptionError(f"{where}: no score column {column!r} in {source}; available: {known}")
            try:
                check_column_kind(step.strategy, cls, column, kinds[column])
            except OptionError as error:
                raise OptionError(f"{where}: {error}") from None
        resolved.append(names)
    return tuple(resolved)


def run_pipeline(
    pipeline: Pipeline,
    step_by: Sequence[tuple[str, ...]],
    columns: Mapping[str, ColumnValues],
    n_rows: int,
    *,
    seed: int,
    final: Budget | None = None,
    texts: Texts | None = None,
    labels: np.ndarray | None = None,
    costs: np.ndarray | None = None,
) -> tuple[np.ndarray, list[StepReport]]:
    """The rows the pipeline keeps out of `n_rows` (ascending), and what each step did.

    Parameters
    ----------
    pipeline:
        The steps (`load_pipeline`).
    step_by:
        Each step's columns (`resolve_columns`).
    columns:
        Every column the steps read, over all `n_rows` rows.
    seed:
        The run's seed (`step_seed` gives each step its own).
    final:
        The size of the last step when the file gives it none: `--keep` (a count of the whole input's rows) or
        `--budget-tokens`; None: the file sizes every step.
    texts, labels, costs:
        For strategies that read texts (dsir, zip) or labels, and for a token budget; over all rows.
    """
    alive = np.arange(n_rows, dtype=np.int64)
    reports = []
    last = pipeline.steps[-1]
    if final is not None and last.size is not None:
        raise OptionError(
            f"{pipeline.where(last)} sets {last.size.kind}: and the command sizes the last step too "
            "(select --keep/--budget-tokens, or eval's keep ratios); remove one of them"
        )
    for step, names in zip(pipeline.steps, step_by, strict=True):
        where = pipeline.where(step)
        try:
            budget = _step_budget(step, final if step is last else None, alive.size)
            inputs = _step_inputs(step, names, columns, alive, texts=texts, labels=labels, costs=costs)
            chosen = run_strategy(step.built, inputs, budget, step_seed(seed, step.number), name=step.strategy)
        except ThresherError as error:
            raise OptionError(f"{where}: {error}") from None
        label = step.fusion.label(names) if step.fusion is not None else ",".join(names)
        reports.append(StepReport(step.number, step.strategy, label, int(alive.size), int(chosen.size)))
        alive = alive[chosen]
    return alive, reports


def _step_budget(step: Step, final: Budget | None, received: int) -> Budget | None:
    if step.size is not None:
        return Budget(count=step.size.rows_kept(received))
    if final is not None and final.count is not None and final.count > received:
        raise OptionError(f"the command asks for {final.count} rows, but only {received} are left for this step")
    if final is None and not step.built.budget_optional:
        raise OptionError(
            f"strategy {step.strategy} needs a size: give keep: or drop: in the file, or --keep on the command line"
        )
    return final


def _step_inputs(
    step: Step,
    names: tuple[str, ...],
    columns: Mapping[str, ColumnValues],
    rows: np.ndarray,
    *,
    texts: Texts | None,
    labels: np.ndarray | None,
    costs: np.ndarray | None,
) -> StrategyInputs:
    """What the step's strategy declares it needs, over the rows it receives."""
    needs = step.built.needs
    importance = values = None
    if step.fusion is not None:
        fused = fuse({name: columns[name].values[rows] for name in names}, _directions(names, columns), step.fusion)
        importance = fused if IMPORTANCE in needs else None
        values = fused if VALUES in needs else None
    elif names:
        column = columns[names[0]]
        raw = np.asarray(column.values, dtype=np.float64)[rows]
        if IMPORTANCE in needs:
            if column.direction is None:
                raise OptionError(f"by: {names[0]} has no direction (it is not a score), so it cannot be ranked")
            importance = strategies.importance(raw, column.direction)
        values = raw if VALUES in needs else None
    return StrategyInputs(
        n_rows=int(rows.size),
        importance=importance,
        values=values,
        texts=texts.subset(rows) if texts is not None and TEXTS in needs else None,
        labels=labels[rows] if labels is not None and LABELS in needs else None,
        costs=costs[rows] if costs is not None else None,
    )


def _directions(names: Sequence[str], columns: Mapping[str, ColumnValues]) -> dict[str, Direction | None]:
    return {name: columns[name].direction for name in names}
