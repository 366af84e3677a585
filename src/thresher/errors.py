"""Errors a user can cause and fix. The CLI prints them as one line on stderr and exits with code 2."""

from __future__ import annotations

from pathlib import Path


class ThresherError(Exception):
    """Base class for every mistake the user can fix (bad input, bad option, mismatched files)."""


class InputError(ThresherError):
    """An input file is missing, unreadable or holds a malformed record."""

    def __init__(
        self,
        path: str | Path,
        message: str,
        *,
        line: int | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path)
        self.message = message
        self.line = line
        self.row = row
        self.field = field
        where = self.path
        if line is not None:
            where += f":{line}"
        elif row is not None:
            where += f": row {row}"
        if field is not None:
            where += f": field '{field}'"
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        # Errors travel between processes (a Ray worker's read to the driver): rebuild from the parts.
        return (_input_error, (self.path, self.message, self.line, self.row, self.field))


def _input_error(path: str, message: str, line: int | None, row: int | None, field: str | None) -> InputError:
    return InputError(path, message, line=line, row=row, field=field)


class OptionError(ThresherError):
    """A command-line option or API argument is out of range or inconsistent with the others."""


class StoreError(ThresherError):
    """A score directory is missing, corrupt, or was built from different input or parameters."""


class ModelError(ThresherError):
    """A model cannot be found or loaded."""
