"""Score store: a directory of Parquet shards (`id` + score columns) per scorer and a `manifest.json`.

Layout::

    SCORE_DIR/
      manifest.json                      # input fingerprint, and per scorer: params, columns, provenance, shards
      likelihood/part-00000.parquet      # id, nll_sum, nll_mean, ppl, bits_per_byte, n_tokens
      compression/part-00000.parquet     # id, zlib_ratio, zstd_ratio, lzma_ratio

Shard `i` of every scorer covers input rows `[i * shard_rows, (i + 1) * shard_rows)`, so scorers line up
row by row. Shards and the manifest are written to a temporary name and renamed, so a crash leaves either
the old or the new file, never half of one; a rerun of the same scorer with the same parameters skips the
shards already recorded.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from thresher.atomic import staged_file
from thresher.errors import StoreError
from thresher.provenance import package_versions, params_fingerprint
from thresher.types import ColumnKind, Direction, ScoreColumn, ScorerCode

MANIFEST_NAME = "manifest.json"
STORE_FORMAT = "thresher-scores"
STORE_VERSION = 1
# Shards and the manifest are written under a hidden `.NAME.XXXX.tmp` beside them and renamed (thresher.atomic).
STAGING_SUFFIX = ".tmp"


@dataclass(frozen=True)
class ColumnInfo:
    """A score column as the manifest describes it."""

    name: str
    scorer: str
    direction: Direction | None  # None for flags and ids
    description: str
    kind: ColumnKind = ColumnKind.SCORE


def _same_input(recorded: dict[str, Any], current: dict[str, Any]) -> bool:
    keys = ("size_bytes", "blake2b", "fields")
    return all(recorded.get(key) == current.get(key) for key in keys)


class ScoreStore:
    """Read and write one score directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.manifest_path = self.root / MANIFEST_NAME
        self.manifest: dict[str, Any] = self._load_manifest() if self.manifest_path.exists() else {}

    # -- opening -----------------------------------------------------------------------------------

    @classmethod
    def open(cls, root: str | Path) -> ScoreStore:
        """Open an existing score directory for reading; `StoreError` when it is not one."""
        root = Path(root)
        if not (root / MANIFEST_NAME).is_file():
            raise StoreError(
                f"{root}: not a thresher score directory (no {MANIFEST_NAME}); run `thresher score` first"
            )
        return cls(root)

    def _load_manifest(self) -> dict[str, Any]:
        try:
            manifest: dict[str, Any] = json.loads(self.manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise StoreError(f"{self.manifest_path}: unreadable manifest ({error})") from None
        if manifest.get("format") != STORE_FORMAT:
            raise StoreError(f"{self.manifest_path}: not a thresher score manifest")
        return manifest

    def _save_manifest(self) -> None:
        self.manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            with staged_file(self.manifest_path, suffix=STAGING_SUFFIX) as staging:
                staging.write_text(json.dumps(self.manifest, indent=2, sort_keys=False, default=str) + "\n")
        except OSError as error:
            raise StoreError(f"{self.manifest_path}: cannot write the manifest ({error.strerror})") from None

    # -- binding to an input -----------------------------------------------------------------------

    def bind_input(self, input_fingerprint: dict[str, Any], *, overwrite: bool = False) -> None:
        """Tie this directory to one input file; refuse scores of another input unless `overwrite`."""
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"{self.root}: exists and is not a directory")
        recorded = self.manifest.get("input")
        if recorded is not None and not _same_input(recorded, input_fingerprint):
            if not overwrite:
                raise StoreError(
                    f"{self.root}: holds scores of {recorded.get('path')} (size {recorded.get('size_bytes')}, "
                    f"fields {recorded.get('fields')}), not of {input_fingerprint.get('path')}; "
                    "use another --out or --overwrite"
                )
            self._wipe()
        if not self.manifest:
            if self.root.exists() and any(self.root.iterdir()):
                raise StoreError(f"{self.root}: directory is not empty and is not a thresher score directory")
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(f"{self.root}: cannot create the score directory ({error.strerror})") from None
            self.manifest = {
                "format": STORE_FORMAT,
                "version": STORE_VERSION,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "scorers": {},
            }
        self.manifest["input"] = input_fingerprint
        self._save_manifest()

    def _wipe(self) -> None:
        for name in self.manifest.get("scorers", {}):
            shutil.rmtree(self.root / name, ignore_errors=True)
        self.manifest = {}
        self.manifest_path.unlink(missing_ok=True)

    def check_input(self, input_fingerprint: dict[str, Any]) -> None:
        """Raise `StoreError` unless this directory's scores were computed from this input."""
        recorded = self.manifest.get("input", {})
        if not _same_input(recorded, input_fingerprint):
            raise StoreError(
                f"{self.root}: scores were computed from {recorded.get('path')} "
                f"(size {recorded.get('size_bytes')}, fields {recorded.get('fields')}), "
                f"which does not match {input_fingerprint.get('path')} "
                f"(size {input_fingerprint.get('size_bytes')}, fields {input_fingerprint.get('fields')})"
            )

    def record_settings(self, command: str, settings: dict[str, Any]) -> None:
        """Record a command's resolved settings (settings-file format) under `settings`, so `--config` repeats it.

        Scorers run into the same directory by earlier commands stay in the record: their parameters are merged in.
        """
        record = self.manifest.setdefault("settings", {})
        previous = record.get(command, {})
        merged = {**previous, **settings}
        if "params" in previous or "params" in settings:
            merged["params"] = {**previous.get("params", {}), **settings.get("params", {})}
            merged["scorer"] = list(merged["params"])
        record[command] = merged
        self._save_manifest()

    # -- writing -----------------------------------------------------------------------------------

    def start_run(
        self,
        scorer_name: str,
        params: dict[str, Any],
        columns: Sequence[ScoreColumn],
        *,
        shard_rows: int,
        overwrite: bool = False,
        code: ScorerCode | None = None,
    ) -> ScorerRun:
        """Begin (or resume) writing one scorer's shards.

        `code` (the scorer's class and version) enters the resume key with `params`: shards written by another
        version of the scorer are never resumed into; the run is refused unless `overwrite`, which rescores.
        """
        if "input" not in self.manifest:
            raise StoreError(f"{self.root}: bind_input must be called before writing scores")
        code_fields = {"class": code.class_path, "version": code.version} if code is not None else {}
        fingerprint = params_fingerprint(
            scorer_name, params, class_path=code_fields.get("class"), version=code_fields.get("version")
        )
        scorers: dict[str, Any] = self.manifest["scorers"]
        for other, entry in scorers.items():
            clash = set(entry["columns"]) & {column.name for column in columns}
            if other != scorer_name and clash:
                raise StoreError(f"{self.root}: column(s) {sorted(clash)} already written by scorer '{other}'")
        entry = scorers.get(scorer_name)
        if entry is not None and code is not None and not overwrite:
            self._check_code(scorer_name, entry, code)
        resumable = entry is not None and entry["fingerprint"] == fingerprint and entry["shard_rows"] == shard_rows
        if entry is not None and not resumable:
            if not overwrite and entry["fingerprint"] != fingerprint:
                raise StoreError(
                    f"{self.root}: scorer '{scorer_name}' was run with other parameters "
                    f"({json.dumps(entry['params'], default=str)}); use --overwrite to replace its scores"
                )
            shutil.rmtree(self.root / scorer_name, ignore_errors=True)
            entry = None
        if entry is None:
            entry = {
                **code_fields,
                "params": params,
                "fingerprint": fingerprint,
                "columns": {
                    column.name: {
                        "kind": str(column.kind),
                        "direction": None if column.direction is None else str(column.direction),
                        "description": column.description,
                        "dtype": column.dtype,
                    }
                    for column in columns
                },
                "shard_rows": shard_rows,
                "shards": [],
                "complete": False,
                "seconds": 0.0,
            }
            scorers[scorer_name] = entry
            self._save_manifest()
        (self.root / scorer_name).mkdir(parents=True, exist_ok=True)
        return ScorerRun(self, scorer_name)

    def _check_code(self, scorer_name: str, entry: dict[str, Any], code: ScorerCode) -> None:
        """Refuse to resume or reuse a scorer's shards that another version of its code wrote."""
        recorded_class, recorded_version = entry.get("class"), entry.get("version")
        if recorded_version is None:
            raise StoreError(
                f"{self.root}: scorer '{scorer_name}' was written by a thresher that did not record scorer "
                f"versions, this is {code}; use --overwrite to rescore"
            )
        if (recorded_class, recorded_version) != (code.class_path, code.version):
            this = f"version {code.version}" if recorded_class == code.class_path else str(code)
            raise StoreError(
                f"{self.root}: scorer '{scorer_name}' was written by {recorded_class} version {recorded_version}, "
                f"this is {this}; use --overwrite to rescore"
            )

    # -- reading -----------------------------------------------------------------------------------

    @property
    def scorer_names(self) -> list[str]:
        return list(self.manifest.get("scorers", {}))

    def column_infos(self) -> dict[str, ColumnInfo]:
        """Every score column in the directory, keyed by name."""
        infos = {}
        for scorer, entry in self.manifest.get("scorers", {}).items():
            for name, column in entry["columns"].items():
                # Manifests from before column kinds recorded every column as a score with a direction.
                kind = ColumnKind(column.get("kind", ColumnKind.SCORE))
                direction = Direction(column["direction"]) if kind is ColumnKind.SCORE else None
                infos[name] = ColumnInfo(name, scorer, direction, column["description"], kind)
        return infos

    def _columns_by_scorer(self, columns: Sequence[str]) -> dict[str, list[str]]:
        """The named columns grouped by the scorer that wrote them, in request order; `StoreError` for an unknown
        one."""
        infos = self.column_infos()
        unknown = [name for name in columns if name not in infos]
        if unknown:
            available = ", ".join(sorted(infos)) or "none"
            raise StoreError(f"{self.root}: no score column {unknown[0]!r}; available: {available}")
        by_scorer: dict[str, list[str]] = {}
        for name in columns:
            by_scorer.setdefault(infos[name].scorer, []).append(name)
        return by_scorer

    def read_columns(self, columns: Sequence[str], *, with_id: bool = True) -> pa.Table:
        """`id` (unless `with_id` is false) plus the named columns for every input row, in input order.

        Selection passes `with_id=False`: the id strings are most of the memory of a read and it needs only
        positions. Scorers then line up by the input rows their shards cover instead of by ids.
        Raises `StoreError` for an unknown column or a scorer whose run is not complete.
        """
        by_scorer = self._columns_by_scorer(columns)
        result: pa.Table | None = None
        first_rows: int | None = None
        for scorer, names in by_scorer.items():
            table = self._read_scorer(scorer, names, with_id=with_id)
            rows = self._rows_covered(scorer)
            if result is None:
                result, first_rows = table, rows
                continue
            if with_id:
                lined_up = result.column("id").equals(table.column("id"))
            else:
                lined_up = rows is not None and rows == first_rows
            if not lined_up:
                raise StoreError(f"{self.root}: scorer '{scorer}' has rows that do not line up with the others")
            for name in names:
                result = result.append_column(name, table.column(name))
        if result is None:
            raise StoreError("no columns requested")
        return result

    def iter_columns(
        self, columns: Sequence[str], *, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """The named columns over input rows [start, stop) (default: to the end), a shard at a time, in row order.

        Yields (first input row, {column: values}); columns of scorers with different shard sizes are cut to line
        up. Memory is one shard per scorer, whatever the input's size: what a streaming `select` reads.
        Raises `StoreError` like `read_columns`, and when the scorers cover different numbers of rows.
        """
        by_scorer = self._columns_by_scorer(columns)
        covered = {scorer: self._complete_rows(scorer) for scorer in by_scorer}
        if len(set(covered.values())) > 1:
            raise StoreError(f"{self.root}: scorers {sorted(covered)} cover different rows ({covered})")
        total = next(iter(covered.values()), 0)
        stop = total if stop is None else min(stop, total)
        streams = [self._shard_pieces(scorer, names, start, stop) for scorer, names in by_scorer.items()]
        pending: list[tuple[int, dict[str, np.ndarray]]] = [next(stream) for stream in streams] if stop > start else []
        row = start
        while row < stop:
            # Each stream's current piece starts at `row`; cut all of them to the shortest and move on.
            length = min(len(next(iter(values.values()))) for _, values in pending)
            if length == 0:
                raise StoreError(f"{self.root}: the score shards end before row {stop}")
            chunk: dict[str, np.ndarray] = {}
            for position, (piece_start, values) in enumerate(pending):
                chunk.update({name: array[:length] for name, array in values.items()})
                rest = {name: array[length:] for name, array in values.items()}
                if len(next(iter(rest.values()))) == 0:
                    pending[position] = next(streams[position], (piece_start + length, rest))
                else:
                    pending[position] = (piece_start + length, rest)
            yield row, chunk
            row += length

    def _complete_rows(self, scorer: str) -> int:
        """The rows a complete scorer covers back to back from row 0; `StoreError` when it is incomplete."""
        entry = self.manifest["scorers"][scorer]
        if not entry.get("complete"):
            done = sum(shard["rows"] for shard in entry["shards"])
            raise StoreError(
                f"{self.root}: scorer '{scorer}' is incomplete ({done} rows scored); "
                "rerun the same `thresher score` command to finish it"
            )
        rows = self._rows_covered(scorer)
        if rows is None:
            raise StoreError(f"{self.root}: scorer '{scorer}' has shards that do not follow each other")
        return rows

    def _shard_pieces(
        self, scorer: str, names: Sequence[str], start: int, stop: int
    ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """One scorer's columns shard by shard, cut to rows [start, stop): (first row, {column: values})."""
        for shard in sorted(self.manifest["scorers"][scorer]["shards"], key=lambda shard: shard["index"]):
            first, rows = shard["row_start"], shard["rows"]
            low, high = max(first, start), min(first + rows, stop)
            if high <= low:
                if first >= stop:
                    return
                continue
            table = pq.read_table(self.root / shard["file"], columns=list(names))
            yield low, {name: table.column(name).to_numpy()[low - first : high - first] for name in names}

    def _rows_covered(self, scorer: str) -> int | None:
        """n when a scorer's shards cover input rows [0, n) back to back, in shard order; None otherwise."""
        shards = sorted(self.manifest["scorers"][scorer]["shards"], key=lambda shard: shard["index"])
        covered = 0
        for shard in shards:
            if shard["row_start"] != covered:
                return None
            covered += shard["rows"]
        return covered

    def _read_scorer(self, scorer: str, names: Sequence[str], *, with_id: bool = True) -> pa.Table:
        entry = self.manifest["scorers"][scorer]
        if not entry.get("complete"):
            done = sum(shard["rows"] for shard in entry["shards"])
            raise StoreError(
                f"{self.root}: scorer '{scorer}' is incomplete ({done} rows scored); "
                "rerun the same `thresher score` command to finish it"
            )
        shards = sorted(entry["shards"], key=lambda shard: shard["index"])
        wanted = ["id", *names] if with_id else list(names)
        tables = [pq.read_table(self.root / shard["file"], columns=wanted) for shard in shards]
        if tables:
            return pa.concat_tables(tables)
        return pa.table({name: pa.array([], pa.string() if name == "id" else pa.float64()) for name in wanted})

    def row_count(self) -> int | None:
        """Number of scored input rows, once any scorer has completed."""
        count = self.manifest.get("row_count")
        return int(count) if count is not None else None


class ScorerRun:
    """Writes one scorer's shards and records them in the manifest as they land."""

    def __init__(self, store: ScoreStore, scorer_name: str) -> None:
        self.store = store
        self.scorer_name = scorer_name

    @property
    def entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = self.store.manifest["scorers"][self.scorer_name]
        return entry

    @property
    def done_shards(self) -> set[int]:
        return {shard["index"] for shard in self.entry["shards"]}

    @property
    def complete(self) -> bool:
        return bool(self.entry.get("complete"))

    def write_shard(
        self,
        index: int,
        row_start: int,
        ids: pa.Array,
        scores: dict[str, np.ndarray],
        *,
        seconds: float = 0.0,
        tokens: int = 0,
    ) -> None:
        """Write shard `index` (ids + score arrays) atomically, then record it and its cost in the manifest."""
        relative = write_shard_file(self.store.root, self.scorer_name, list(self.entry["columns"]), index, ids, scores)
        self.record_shard(index, row_start, len(ids), relative, seconds=seconds, tokens=tokens)

    def record_shard(
        self, index: int, row_start: int, rows: int, relative: str, *, seconds: float = 0.0, tokens: int = 0
    ) -> None:
        """Record a shard file already written (by `write_shard_file`, perhaps on a worker) in the manifest."""
        shards = [shard for shard in self.entry["shards"] if shard["index"] != index]
        shards.append({"index": index, "file": relative, "row_start": row_start, "rows": rows})
        self.entry["shards"] = sorted(shards, key=lambda shard: shard["index"])
        self.entry["seconds"] = round(self.entry.get("seconds", 0.0) + seconds, 3)
        self.entry["tokens"] = self.entry.get("tokens", 0) + tokens
        self.store._save_manifest()

    def finish(self, row_count: int, provenance: dict[str, Any]) -> None:
        """Mark the run complete once every row has a score, recording provenance and throughput."""
        entry = self.entry
        scored = sum(shard["rows"] for shard in entry["shards"])
        if scored != row_count:
            raise RuntimeError(f"scorer '{self.scorer_name}' scored {scored} of {row_count} rows")
        entry["complete"] = True
        entry["row_count"] = row_count
        entry["provenance"] = provenance
        entry["packages"] = package_versions()
        entry["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if entry["seconds"] > 0:
            entry["examples_per_second"] = round(row_count / entry["seconds"], 2)
            if entry.get("tokens"):
                entry["tokens_per_second"] = round(entry["tokens"] / entry["seconds"], 2)
        self.store.manifest["row_count"] = row_count
        self.store._save_manifest()


def write_shard_file(
    root: Path,
    scorer_name: str,
    columns: Sequence[str],
    index: int,
    ids: pa.Array | pa.ChunkedArray,
    scores: dict[str, np.ndarray],
) -> str:
    """Write one scored shard's Parquet file atomically (`thresher.atomic`); give its path relative to `root`.

    What a worker calls on the score directory every node mounts; the driver then records the shard
    (`ScorerRun.record_shard`). Raises RuntimeError when the scores do not match the declared columns.
    """
    if set(scores) != set(columns):
        raise RuntimeError(f"scorer '{scorer_name}' returned columns {sorted(scores)}, declared {sorted(columns)}")
    for name, values in scores.items():
        if len(values) != len(ids):
            raise RuntimeError(
                f"scorer '{scorer_name}' returned {len(values)} values for column '{name}', expected {len(ids)}"
            )
    table = pa.table({"id": ids, **{name: scores[name] for name in columns}})
    relative = f"{scorer_name}/part-{index:05d}.parquet"
    path = Path(root) / relative
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with staged_file(path, suffix=STAGING_SUFFIX) as staging:
            pq.write_table(table, staging)
    except OSError as error:
        raise StoreError(f"{path}: cannot write the shard ({error.strerror or error})") from None
    return relative
