"""`select --engine ray`: the subset written as a directory of parts, by Ray tasks in parallel.

The driver finds the selection as the local `select` does (streamed: the cuts, from passes over the score
shards; in memory: the rows) and cuts the input rows into one contiguous range per worker. It then walks the
rule over the score shards once more to give each range the state it starts in (the ties at a cut that earlier
ranges take: `KeepRule.split`), so each task decides its rows alone. A task reads its range of the input and of the
score shards (from storage every worker can reach) and writes `part-NNNNN.<suffix>` of `--out` (and of
`--write-pruned`); the driver renames the staged directory into place once every part is written.

`--out` is then a directory of parts in input order: part i holds the kept rows of the i-th range, in input order,
in the format of `--out`'s suffix (`kept.jsonl/part-00000.jsonl`, ...), so `cat kept.jsonl/part-*` gives the
bytes the local engine writes to `kept.jsonl` (JSON Lines, uncompressed), and Parquet readers take the directory as
one dataset. Every range has its part, empty or not.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from thresher.atomic import staged_dir
from thresher.data.formats import output_format
from thresher.data.readers import Dataset
from thresher.errors import OptionError
from thresher.selection.streaming import KeepRule, Tally, write_rule

_PART = re.compile(r"part-\d{5}.*")
_SUFFIXES = {"jsonl": ".jsonl", "parquet": ".parquet", "csv": ".csv", "hf": ""}
_COMPRESSED = {"gzip": ".gz", "zstd": ".zst"}
MIN_PART_ROWS = 1024  # smaller ranges are not worth a task


def write_on_ray(
    dataset: Dataset,
    rule: KeepRule,
    out: Path,
    pruned: Path | None,
    *,
    address: str | None = None,
    workers: int | None = None,
) -> Tally:
    """Write what `rule` keeps as the parts of the directory `out` (the rest under `pruned`); gives what was kept.

    Parameters
    ----------
    dataset:
        The input, readable by every worker at its path.
    rule:
        The selection, over all of `dataset`'s rows.
    out, pruned:
        Directories of parts to write (replaced if they hold only parts of an earlier run).
    address:
        The Ray cluster to join; default: the connected one, or a local one for the duration of the call.
    workers:
        Parts written at once, one input range each; default: the cluster's CPUs.
    """
    from thresher.engine.ray_engine import import_ray

    ray = import_ray()
    for directory in (out, pruned):
        if directory is not None:
            _check_parts_dir(directory)
    target = output_format(out, None, dataset.format)
    suffix = _SUFFIXES[target.format] + _COMPRESSED.get(target.compression or "", "")
    started_ray = not ray.is_initialized()
    if started_ray:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
    try:
        width = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        parts = max(1, min(width, rule.n_rows // MIN_PART_ROWS))
        boundaries = np.linspace(0, rule.n_rows, parts + 1).round().astype(np.int64).tolist()
        part_rules = rule.split(boundaries)
        write_part = ray.remote(num_cpus=1)(_write_part)
        with staged_dir(out, overwrite=True) as kept_dir, _maybe_staged(pruned) as pruned_dir:
            pending = [
                write_part.remote(
                    dataset,
                    part_rule,
                    (start, stop),
                    kept_dir / f"part-{index:05d}{suffix}",
                    None if pruned_dir is None else pruned_dir / f"part-{index:05d}{suffix}",
                    target.format,
                )
                for index, (part_rule, start, stop) in enumerate(
                    zip(part_rules, boundaries[:-1], boundaries[1:], strict=True)
                )
            ]
            tallies = ray.get(pending)
    finally:
        if started_ray:
            ray.shutdown()
    return Tally(rows=sum(tally.rows for tally in tallies), cost=sum(tally.cost for tally in tallies))


def _write_part(
    dataset: Dataset,
    rule: KeepRule,
    rows: tuple[int, int],
    kept_path: Path,
    pruned_path: Path | None,
    part_format: str,
) -> Tally:
    """A Ray task: write one input range's kept (and pruned) rows."""
    return write_rule(dataset, rule, kept_path, pruned_path, rows=rows, out_format=part_format)


def _check_parts_dir(path: Path) -> None:
    """`OptionError` unless `path` can become a directory of parts (absent, or a directory of earlier parts)."""
    if path.is_file():
        raise OptionError(f"cannot write {path}: with --engine ray the output is a directory of parts; it is a file")
    if path.is_dir() and not all(_PART.fullmatch(entry.name) for entry in path.iterdir()):
        raise OptionError(
            f"cannot write {path}: it is a directory that holds more than the parts of an earlier "
            "`select --engine ray`, so thresher will not replace it"
        )
    if not path.absolute().parent.is_dir():
        raise OptionError(f"cannot write {path}: directory {path.absolute().parent} does not exist")


class _NoStaging:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _maybe_staged(path: Path | None) -> Any:
    return staged_dir(path, overwrite=True) if path is not None else _NoStaging()
