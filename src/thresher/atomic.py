"""Write a file all at once: under a temporary name next to it, renamed into place only when complete.

Readers never see half a file, and a failure leaves neither the file nor the temporary behind. The file gets the
permissions a plain `open(path, "w")` would give (0666 less the umask), not the 0600 of `tempfile.mkstemp`, so
reports and corpora written this way are readable like any other output.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_file(path: str | Path, suffix: str = ".partial") -> Iterator[Path]:
    """Yield a temporary path in `path`'s directory; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    descriptor, staging = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(descriptor)
    try:
        yield Path(staging)
        os.chmod(staging, 0o666 & ~current_umask())
        os.replace(staging, path)
    finally:
        Path(staging).unlink(missing_ok=True)


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back: POSIX offers no read-only call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
