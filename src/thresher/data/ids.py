"""Stable content ids: the same example gets the same id in every run, and duplicate texts get distinct ids."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

DIGEST_HEX_CHARS = 16


def content_digest(text: str) -> str:
    """Give the first 16 hex characters of the blake2b hash of a text's UTF-8 bytes."""
    return hashlib.blake2b(text.encode("utf-8")).hexdigest()[:DIGEST_HEX_CHARS]


def content_id(text: str, occurrence: int) -> str:
    """Give the id of the `occurrence`-th (0-based) appearance of `text` in a file: `<digest>-<occurrence>`."""
    return f"{content_digest(text)}-{occurrence}"


class ContentIdAssigner:
    """Assigns content ids to texts in file order, counting earlier appearances of each identical text."""

    def __init__(self) -> None:
        # Keyed by the digest as an int rather than its hex string: a small int key costs less memory per text.
        self._seen: dict[int, int] = {}

    def assign(self, text: str) -> str:
        """Give the id of the next appearance of `text`."""
        digest = content_digest(text)
        key = int(digest, 16)
        occurrence = self._seen.get(key, 0)
        self._seen[key] = occurrence + 1
        return f"{digest}-{occurrence}"

    def assign_many(self, texts: Iterable[str]) -> list[str]:
        """Give the ids of a run of texts, in order."""
        return [self.assign(text) for text in texts]
