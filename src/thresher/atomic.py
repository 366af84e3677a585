"""Write a file or a directory all at once: under a temporary name next to it, renamed into place when complete.

Readers never see half a file or half a directory, and a failure leaves neither it nor the temporary behind. The
result gets the permissions a plain `open(path, "w")` or `mkdir` would give (less the umask), not the 0600/0700 of
`tempfile`, so reports, corpora and model directories written this way are readable like any other output.
"""

from __future__ import annotations

import os
import shutil
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


@contextmanager
def staged_dir(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty staging directory next to `path`, renamed to `path` only if the block succeeds.

    An existing non-empty `path` raises `OptionError` up front unless `overwrite`; with `overwrite` the old
    directory is swapped out and deleted only after the new one is complete. On error the staging dir is removed.
    """
    from thresher.errors import OptionError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OptionError(f"{path}: exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise OptionError(f"{path}: directory exists and is not empty (pass overwrite to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.partial-", dir=path.parent))
    try:
        yield staging
        os.chmod(staging, 0o777 & ~current_umask())
        if path.is_dir() and any(path.iterdir()):
            # rename(2) cannot replace a non-empty directory: move the old one aside, swap, then delete it.
            retired = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, retired)
            os.replace(staging, path)
            shutil.rmtree(retired)
        else:
            os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back: POSIX offers no read-only call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
