"""Which input fields hold the text, the id and the label, and the columns of an example batch."""

from __future__ import annotations

from dataclasses import dataclass

# Columns of the record batches that readers give to scorers.
ROW_COLUMN = "row"  # int64, 0-based position of the example in the input
ID_COLUMN = "id"  # the input's own id (its type kept) or a stable content id (string)
TEXT_COLUMN = "text"  # str, validated non-empty UTF-8
LABEL_COLUMN = "label"  # as in the input, present only when a label field is given


@dataclass(frozen=True)
class Fields:
    """Names of the input fields that thresher reads; `id=None` means "derive a stable content id"."""

    text: str = "text"
    id: str | None = None
    label: str | None = None
