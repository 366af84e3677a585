"""Keep masks in chunks: which rows to write, as consecutive boolean arrays, never one array for the whole input.

A streaming `select` decides the rows shard by shard while it writes, so the writers take a *source* of chunks:
a function that gives a fresh iterator over them each time it is called (a conversion reads the kept rows twice).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

# Each call gives a new iterator over boolean chunks that cover the rows written, in order, back to back.
KeepChunks = Callable[[], Iterable[np.ndarray]]


class MaskCursor:
    """Reads a chunked keep mask front to back, in pieces of any size."""

    def __init__(self, chunks: Iterable[np.ndarray]) -> None:
        self._chunks = iter(chunks)
        self._current = np.zeros(0, dtype=bool)
        self._offset = 0
        self._seen = 0  # entries in the chunks pulled so far
        self.consumed = 0

    def take(self, count: int) -> np.ndarray:
        """The next `count` entries; `ValueError` when the mask ends first."""
        pieces = []
        wanted = count
        while wanted > 0:
            if self._offset == self._current.size:
                chunk = self._next_chunk()
                if chunk is None:
                    raise ValueError(f"the keep mask ends after {self.consumed} rows, before the input does")
                self._current, self._offset = chunk, 0
                continue
            piece = self._current[self._offset : self._offset + wanted]
            self._offset += piece.size
            wanted -= piece.size
            pieces.append(piece)
        self.consumed += count
        if not pieces:
            return np.zeros(0, dtype=bool)
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def bits(self) -> Iterator[bool]:
        """The entries one at a time, as Python booleans (for row-by-row writers); ends with the mask."""
        while True:
            if self._offset == self._current.size:
                chunk = self._next_chunk()
                if chunk is None:
                    return
                self._current, self._offset = chunk, 0
                continue
            rest = self._current[self._offset :]
            self._offset = self._current.size
            for bit in rest.tolist():
                self.consumed += 1
                yield bit

    def finish(self) -> None:
        """`ValueError` unless every entry was read (the mask covers more rows than were written)."""
        left = self._seen - self.consumed
        for chunk in self._chunks:
            left += np.asarray(chunk).size
        if left:
            raise ValueError(f"the keep mask has {left} entries past the {self.consumed} rows of the input")

    def _next_chunk(self) -> np.ndarray | None:
        """The next non-empty chunk, or None at the end of the mask."""
        for chunk in self._chunks:
            array = np.asarray(chunk)
            if array.dtype != np.bool_ or array.ndim != 1:
                raise ValueError(f"keep chunks must be 1-D boolean arrays, not {array.dtype} of shape {array.shape}")
            if array.size:
                self._seen += array.size
                return array
        return None
