"""The one text normalisation a fastText student sees, at training time and at scoring time alike.

fastText reads one example per line and splits words on whitespace, so a newline inside a text would end it
early (its `predict` refuses one). Training and scoring both pass every text through `normalise_text`, and the
model directory records its settings, so the scorer sees a text exactly as the trainer did.
"""

from __future__ import annotations

import re

LABEL_PREFIX = "__label__"
"""fastText's prefix of a label word: a word of the text that starts with it would be read as a label."""

_LABEL_WORD = re.compile(r"(?:^| )(?=" + re.escape(LABEL_PREFIX) + ")")


def normalise_text(text: str, *, lowercase: bool = False) -> str:
    """`text` on one line: every run of whitespace (newlines included) one space, no leading or trailing space.

    With `lowercase`, lowercased too. A word that starts with fastText's label prefix (`__label__`) gets one more
    leading underscore, so that fastText reads it as a word, in training and in scoring alike.
    """
    # str.split() splits on runs of what str.isspace() calls whitespace (the regex \s+ of str patterns), 7× faster.
    line = " ".join(text.split())
    if lowercase:
        line = line.lower()
    if LABEL_PREFIX in line:
        line = _LABEL_WORD.sub(lambda match: match.group(0) + "_", line)
    return line
