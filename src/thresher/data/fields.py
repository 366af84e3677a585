"""Which input fields hold the text, the id and the label, and the columns of an example batch."""

from __future__ import annotations

from dataclasses import dataclass

# Columns of the record batches that readers give to scorers.
ROW_COLUMN = "row"  # int64, 0-based position of the example in the input
ID_COLUMN = "id"  # the input's own id (its type kept) or a stable content id (string)
TEXT_COLUMN = "text"  # str, validated non-empty UTF-8
LABEL_COLUMN = "label"  # as in the input, present only when a label field is given
PROMPT_COLUMN = "prompt"  # str, validated like the text, present only when a prompt field is given
RESPONSE_COLUMN = "response"  # str, validated like the text, present only when a response field is given


@dataclass(frozen=True)
class Fields:
    """Names of the input fields that thresher reads; `id=None` means "derive a stable content id".

    `prompt` and `response` are read only for scorers that ask for them (`Scorer.input_fields`); they do not
    change the examples' ids or the input's identity, so they are not part of a score directory's fingerprint.
    """

    text: str = "text"
    id: str | None = None
    label: str | None = None
    prompt: str | None = None
    response: str | None = None

    def identity(self) -> dict[str, str | None]:
        """The fields that identify the examples (what a score directory records and compares)."""
        return {"text": self.text, "id": self.id, "label": self.label}

    def text_columns(self) -> list[tuple[str, str]]:
        """(batch column, input field) of every text-like field read: the text, then prompt and response if set."""
        columns = [(TEXT_COLUMN, self.text)]
        if self.prompt is not None:
            columns.append((PROMPT_COLUMN, self.prompt))
        if self.response is not None:
            columns.append((RESPONSE_COLUMN, self.response))
        return columns
