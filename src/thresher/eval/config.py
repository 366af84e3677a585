"""`EvalConfig`: everything an evaluation depends on, checked, with every component parameter resolved.

results.json records it (`to_record`) next to each component's parameters, and `from_record` rebuilds it, so an
evaluation can be repeated from its own record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from thresher.components import Assignment, assignments_from_mapping
from thresher.errors import OptionError
from thresher.eval.plan import DEFAULT_KEEPS, method_names, parse_keeps, parse_method
from thresher.eval.registry import TARGETS
from thresher.eval.target import BUDGETS, LABELS, RESPONSES, EvalTarget

# Which field each kind of `EvalTarget.reads` is read from, and the flag that names it.
_READ_FLAGS = {LABELS: ("label_field", "--label-field"), RESPONSES: ("response_field", "--response-field")}
_PATHS = ("input", "scores", "eval_file")
_PARAMS = ("target_params", "strategy_params")


@dataclass(frozen=True)
class EvalConfig:
    """The settings of one evaluation; `target_params` and `strategy_params` are resolved constructor arguments.

    Run i of a (method, keep ratio) uses seed `seed + i` for both selection and training; `full` runs
    `full_seeds` times (default `seeds`). `eval_split` holds out a seeded hash share of the ids unless
    `eval_file` gives the held-out part.
    """

    input: Path
    task: str
    methods: tuple[str, ...] = ("random", "full")
    keep: tuple[float, ...] = DEFAULT_KEEPS
    seeds: int = 3
    full_seeds: int | None = None
    scores: Path | None = None
    eval_split: float | None = 0.1
    eval_file: Path | None = None
    text_field: str = "text"
    id_field: str | None = None
    label_field: str | None = None
    response_field: str | None = None
    budget: str = "epochs"
    seed: int = 0
    jobs: int = 1
    target_params: Mapping[str, Any] = field(default_factory=dict)
    strategy_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def target_class(self) -> type[EvalTarget]:
        if self.task not in TARGETS:
            raise OptionError(f"unknown --task {self.task!r}; choose one of {', '.join(TARGETS.names())}")
        return TARGETS.get(self.task)

    @property
    def read_field(self) -> str | None:
        """The field the target reads besides the text (labels or responses), or None."""
        reads = self.target_class.reads
        return getattr(self, _READ_FLAGS[reads][0]) if reads is not None else None

    def validate(self) -> None:
        """Raise `OptionError` naming the first setting that is out of range or that the target does not use."""
        target = self.target_class
        if self.budget not in target.budgets:
            known = "unknown" if self.budget not in BUDGETS else f"target {self.task} does not support"
            raise OptionError(f"--budget {self.budget}: {known}; choose {' or '.join(target.budgets)}")
        for name, value in (("--seeds", self.seeds), ("--full-seeds", self.full_seeds), ("--jobs", self.jobs)):
            if value is not None and value < 1:
                raise OptionError(f"{name} must be at least 1, got {value}")
        self._check_fields(target)
        parse_keeps(self.keep)
        for name in method_names(self.methods):
            if parse_method(name).balanced and target.reads != LABELS:
                raise OptionError(
                    f"--methods {name}: a balanced method runs within each class, and target {self.task} reads no "
                    "class labels (use --task classify with --label-field)"
                )
        if self.eval_file is None and self.eval_split is None:
            raise OptionError("give --eval-split FRACTION or --eval-file FILE")

    def _check_fields(self, target: type[EvalTarget]) -> None:
        for reads, (name, flag) in _READ_FLAGS.items():
            value = getattr(self, name)
            if target.reads == reads and value is None:
                what = "the class of each example" if reads == LABELS else "the response to each --text-field prompt"
                raise OptionError(f"--task {self.task} needs {flag} F ({what})")
            if target.reads != reads and value is not None:
                users = [other for other in TARGETS.names() if TARGETS.get(other).reads == reads]
                where = f"it applies to target {', '.join(users)}" if users else "no target reads it"
                raise OptionError(f"{flag} {value}: target {self.task} does not read {reads} ({where})")

    def with_params(self, layers: Sequence[Sequence[Assignment]], flags: Mapping[str, Any]) -> EvalConfig:
        """This config with the target's and the strategies' parameters resolved from `layers` and `flags`."""
        from thresher.eval.params import resolve_eval_params

        forwarded = {"target_text_field": self.text_field}
        target_params, strategy_params = resolve_eval_params(self.task, self.methods, layers, flags, forwarded)
        return replace(self, target_params=target_params, strategy_params=strategy_params)

    def to_record(self) -> dict[str, Any]:
        """The settings as plain data (the component parameters are recorded by the components themselves)."""
        record = {name: value for name, value in asdict(self).items() if name not in _PARAMS}
        for name in _PATHS:
            record[name] = str(record[name]) if record[name] is not None else None
        return {name: list(value) if isinstance(value, tuple) else value for name, value in record.items()}

    @classmethod
    def from_record(cls, results: Mapping[str, Any]) -> EvalConfig:
        """The config a results.json (as loaded) was run with, its recorded parameters resolved again."""
        recorded = results["config"]
        known = {item.name for item in fields(cls)} - set(_PARAMS)
        values = {name: recorded[name] for name in known if name in recorded}
        for name in _PATHS:
            values[name] = Path(values[name]) if values.get(name) is not None else None
        values["methods"], values["keep"] = tuple(values["methods"]), tuple(values["keep"])
        config = cls(**values)
        layer = assignments_from_mapping(results.get("params", {}), "results.json params")
        return config.with_params([layer], {})
