"""`thresher info`: what a score directory holds, with summary statistics and a terminal histogram."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.table import Table

from thresher.store import ScoreStore
from thresher.types import Direction

_BARS = " ▁▂▃▄▅▆▇█"


def sparkline(values: np.ndarray, bins: int = 16) -> str:
    """A one-line histogram of `values` made of block characters (empty string for no finite values)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return ""
    counts, _ = np.histogram(finite, bins=bins)
    peak = counts.max()
    levels = np.ceil(counts / peak * (len(_BARS) - 1)).astype(int) if peak else np.zeros(bins, int)
    return "".join(_BARS[level] for level in levels)


def column_summary(values: np.ndarray) -> dict[str, Any]:
    """Count, missing, min, median, max and mean of a score column."""
    finite = values[np.isfinite(values)]
    summary: dict[str, Any] = {"count": int(values.size), "missing": int(values.size - finite.size)}
    if finite.size:
        summary.update(
            min=float(finite.min()),
            median=float(np.median(finite)),
            max=float(finite.max()),
            mean=float(finite.mean()),
        )
    return summary


def _is_numeric(data_type: pa.DataType) -> bool:
    return pa.types.is_integer(data_type) or pa.types.is_floating(data_type) or pa.types.is_boolean(data_type)


def _format(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}"


def print_store_summary(score_dir: str | Path, console: Console) -> None:
    """Print the scorers, their provenance and a per-column summary of a score directory."""
    store = ScoreStore.open(score_dir)
    manifest = store.manifest
    source = manifest.get("input", {})
    console.print(
        f"[bold]{store.root}[/]  scores of {source.get('path')} ({source.get('format')}, "
        f"{source.get('size_bytes', 0):,} bytes, blake2b {str(source.get('blake2b', ''))[:16]})"
    )
    for name, entry in manifest.get("scorers", {}).items():
        status = "complete" if entry.get("complete") else "INCOMPLETE (rerun `thresher score` to resume)"
        provenance = entry.get("provenance", {})
        details = [f"{entry.get('row_count', sum(s['rows'] for s in entry['shards'])):,} rows", status]
        if "version" in entry:
            details.append(f"version {entry['version']}")
        for key in ("model", "dtype", "device"):
            if key in provenance:
                details.append(f"{key} {provenance[key]}")
        if "examples_per_second" in entry:
            details.append(f"{entry['seconds']:.1f} s, {entry['examples_per_second']:,.1f} ex/s")
        if "tokens_per_second" in entry:
            details.append(f"{entry['tokens_per_second']:,.0f} tok/s")
        console.print(f"  [bold]{name}[/]: " + ", ".join(details))

    table = Table(title="score columns", title_justify="left")
    for heading in ("column", "important", "rows", "min", "median", "max", "histogram min→max"):
        numeric = heading in {"rows", "min", "median", "max"}
        table.add_column(heading, justify="right" if numeric else "left", no_wrap=True)
    for name, column in store.column_infos().items():
        if not manifest["scorers"][column.scorer].get("complete"):
            continue
        if column.direction is None:
            direction = str(column.kind)  # flags and ids have no direction
        else:
            direction = "higher" if column.direction is Direction.HIGHER else "lower"
        raw = store.read_columns([name]).column(name)
        if not _is_numeric(raw.type):
            # Ids and labels (e.g. dedup's duplicate_of): counts, not statistics.
            distinct = len(pc.unique(raw.drop_null()))
            table.add_row(
                name, direction, f"{len(raw):,}", "-", "-", "-", f"{distinct:,} distinct, {raw.null_count:,} null"
            )
            continue
        values = raw.to_numpy(zero_copy_only=False).astype(np.float64)
        stats = column_summary(values)
        table.add_row(
            name,
            direction,
            f"{stats['count']:,}",
            _format(stats.get("min")),
            _format(stats.get("median")),
            _format(stats.get("max")),
            sparkline(values),
        )
    console.print(table)
    _print_embedding_caches(store, console)


def _print_embedding_caches(store: ScoreStore, console: Console) -> None:
    """One line per cached embedding matrix (`thresher embed`): vectors, not score columns."""
    from thresher.embeddings import list_embedding_caches

    for cache in list_embedding_caches(store):
        meta = cache.meta
        console.print(
            f"  embeddings [bold]{meta.get('embedder')}[/]: {cache.rows:,} × {cache.dimension} float32 "
            f"(not a score column; used by density/semdedup) → {cache.path}"
        )
