"""The IFD scorer: Instruction-Following Difficulty, how little a prompt helps a causal LM predict its response.

Li et al. (2023, "From Quantity to Quality", the Cherry LLM paper) score a prompt/response pair by the ratio of the
response's mean per-token cross-entropy given the prompt to that of the response alone,

    IFD(Q, A) = s(A | Q) / s(A),    s = mean NLL per response token (nats),

and select the pairs with the highest IFD among those with IFD ≤ 1: a high IFD means the prompt helps little, so the
pair is hard for the model and teaches it more; IFD > 1 means the prompt makes the response *less* likely, which
they (and Superfiltering, Li et al. 2024, which scores with GPT-2-small) read as a misaligned pair and drop. The
perplexity form `ifd_ppl` = PPL(A | Q) / PPL(A) = exp(s(A | Q) − s(A)) orders pairs the same way and crosses 1 at
the same pairs.

Both passes go through the likelihood scorer's machinery (same loading, dtype, length-sorted token-budget batches,
LM head on scored positions only, OOM halving): each pair is two windows of one batch plan,

    conditioned: [BOS] + prompt tokens + response tokens      alone: [BOS] + response tokens

(BOS, or EOS when the tokenizer has none, as in `likelihood`), scoring the same response tokens in both. The prompt
and the response are tokenised separately, so the response's tokens are identical in both passes; a separator
between them (a newline, a chat template's assistant header) belongs at the end of the prompt.

Truncation to `max_length` (the model's context by default): the response keeps its first `max_length − 2` tokens
(room for BOS and at least one prompt token), then the prompt keeps its last tokens that fit
(`max_length − 1 − response tokens`). `ifd_n_tokens` is the number of response tokens scored.

Cost class: forward-only, two passes per pair (the conditioned one as long as prompt + response).

References:
    Li et al. 2023, "From Quantity to Quality: Boosting LLM Performance with Self-Guided Data Selection for
    Instruction Tuning", arXiv 2308.12032. Li et al. 2024, "Superfiltering: Weak-to-Strong Data Filtering for
    Fast Instruction-Tuning", arXiv 2402.00530.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from thresher.data.fields import PROMPT_COLUMN, RESPONSE_COLUMN, TEXT_COLUMN
from thresher.errors import OptionError
from thresher.ops.ifd import ifd_columns, truncate_pair
from thresher.ops.windows import Window
from thresher.scorers.likelihood import CausalLmScorer, _Reference
from thresher.types import ColumnKind, Direction, RunContext, ScoreColumn


class IfdScorer(CausalLmScorer):
    """Instruction-Following Difficulty of prompt/response pairs (higher = the prompt helps less = harder).

    Select as the papers do with `--strategy threshold --by ifd -p maximum=1` (drop IFD > 1, keep the highest),
    or keep the pairs of `ifd_keep` with `--strategy dedup --by ifd_keep`.

    Parameters
    ----------
    model:
        Hugging Face id, local directory or `.gguf` file of a causal LM, or a `thresher train-ref --folds K`
        directory (each pair is then scored by the fold model that did not train on it).
    prompt_field:
        Input field holding the prompt (instruction) of each pair.
    response_field:
        Input field holding the response (default: the run's text).
    dtype:
        auto (bf16 where the hardware runs it fast) | float32 | bfloat16.
    device:
        auto | cpu | cuda.
    batch_tokens:
        Token budget of one forward pass, padding included (rows × longest row); halved on out-of-memory.
    max_length:
        Most tokens of BOS + prompt + response (default: the model's context); the response keeps its first
        max_length − 2 tokens, the prompt its last tokens that still fit.
    """

    name = "ifd"
    columns = (
        ScoreColumn("ifd", Direction.HIGHER, "mean response NLL given the prompt ÷ mean NLL of the response alone"),
        ScoreColumn("ifd_ppl", Direction.HIGHER, "PPL(response | prompt) ÷ PPL(response) = exp(difference of NLLs)"),
        ScoreColumn("ifd_nll_conditioned", Direction.HIGHER, "mean NLL per response token given the prompt, nats"),
        ScoreColumn("ifd_nll_response", Direction.HIGHER, "mean NLL per response token of the response alone, nats"),
        ScoreColumn("ifd_n_tokens", Direction.HIGHER, "response tokens scored (after truncation)", dtype="int64"),
        ScoreColumn(
            "ifd_keep", None, "1 if IFD ≤ 1 (the prompt helps), 0 for pairs the IFD papers drop", kind=ColumnKind.FLAG
        ),
    )
    version = 1

    def __init__(
        self,
        *,
        model: str,
        prompt_field: str,
        response_field: str | None = None,
        dtype: str = "auto",
        device: str = "auto",
        batch_tokens: int = 4096,
        max_length: int | None = None,
    ) -> None:
        self.model = model
        self.prompt_field = prompt_field
        self.response_field = response_field
        self.dtype = dtype
        self.device = device
        self.batch_tokens = batch_tokens
        self.max_length = max_length

    def setup(self, context: RunContext | None = None) -> None:
        if self.max_length is not None and self.max_length < 3:
            raise OptionError(
                f"scorer ifd: max_length must be >= 3 (BOS, a prompt token, a response token), got {self.max_length}"
            )
        super().setup(context)

    def input_fields(self) -> dict[str, str]:
        """The prompt (and response) fields, read into every batch's `prompt` (and `response`) column."""
        fields = {PROMPT_COLUMN: self.prompt_field}
        if self.response_field is not None:
            fields[RESPONSE_COLUMN] = self.response_field
        return fields

    def pairs(self, batch: pa.RecordBatch) -> tuple[list[str], list[str]]:
        """(prompts, responses) of the batch, from the columns the reader added."""
        names = batch.schema.names
        for column, field in self.input_fields().items():
            if column not in names:
                raise OptionError(f"scorer ifd: --{column}-field {field} was not read into the batch")
        responses = batch.column(RESPONSE_COLUMN if self.response_field is not None else TEXT_COLUMN).to_pylist()
        return batch.column(PROMPT_COLUMN).to_pylist(), responses

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        """Score every pair of `batch`; see the class docstring for the columns."""
        if not getattr(self, "_references", None):
            raise RuntimeError("IfdScorer.setup() must run before score_batch()")
        prompts, responses = self.pairs(batch)
        conditioned = np.zeros(batch.num_rows, dtype=np.float64)
        alone = np.zeros(batch.num_rows, dtype=np.float64)
        n_tokens = np.zeros(batch.num_rows, dtype=np.int64)
        for fold, rows in self._fold_groups(batch).items():
            if len(rows):
                self._score_pairs(
                    self._references[fold],
                    [prompts[i] for i in rows],
                    [responses[i] for i in rows],
                    rows,
                    (conditioned, alone, n_tokens),
                )
        return ifd_columns(conditioned, alone, n_tokens)

    def _score_pairs(
        self,
        reference: _Reference,
        prompts: list[str],
        responses: list[str],
        example_rows: np.ndarray,
        out: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> None:
        """Add the summed response NLLs with and without the prompt, and the response tokens, into `out`."""
        conditioned, alone, n_tokens = out
        tokenizer = reference.loaded.tokenizer
        prompt_ids = tokenizer(prompts, add_special_tokens=False, verbose=False)["input_ids"]
        response_ids = tokenizer(responses, add_special_tokens=False, verbose=False)["input_ids"]
        context = reference.context_token_id
        n_pairs = len(prompts)
        sequences: list[list[int]] = [[] for _ in range(2 * n_pairs)]
        windows: list[Window] = [Window(0, 0, 0)] * (2 * n_pairs)
        for pair, (prompt, response) in enumerate(zip(prompt_ids, response_ids, strict=True)):
            prompt, response = truncate_pair(prompt, response, reference.max_length)
            # Sequence `pair` is the conditioned pass, `n_pairs + pair` the response alone.
            sequences[pair] = [context, *prompt, *response]
            sequences[n_pairs + pair] = [context, *response]
            windows[pair] = Window(0, len(sequences[pair]), len(response))
            windows[n_pairs + pair] = Window(0, len(response) + 1, len(response))
            n_tokens[example_rows[pair]] = len(response)
        # Pairs with nothing to predict (a response of no tokens) are done from the start.
        scorable = [window for window in range(2 * n_pairs) if windows[window].n_scored > 0]
        passes_left = np.full(n_pairs, 2, dtype=np.int64)
        empty = [pair for pair in range(n_pairs) if windows[pair].n_scored == 0]
        passes_left[empty] = 0
        if empty:
            self.report_progress(len(empty), 0)
        for batch_rows, row_nll in self._window_nlls(
            reference, sequences, scorable, [windows[window] for window in scorable]
        ):
            window_ids = np.asarray(scorable, dtype=np.int64)[batch_rows]
            pair_ids = window_ids % n_pairs
            is_conditioned = window_ids < n_pairs
            np.add.at(conditioned, example_rows[pair_ids[is_conditioned]], row_nll[is_conditioned])
            np.add.at(alone, example_rows[pair_ids[~is_conditioned]], row_nll[~is_conditioned])
            np.subtract.at(passes_left, pair_ids, 1)
            finished = int(np.count_nonzero(passes_left[np.unique(pair_ids)] == 0))
            self.report_progress(finished, int(sum(windows[window].n_scored for window in window_ids)))

    def provenance(self) -> dict[str, Any]:
        """The causal-LM record (model, fingerprint, tokenizer, dtype, device, padding share) without a stride."""
        record = super().provenance()
        record.pop("stride", None)
        if getattr(self, "_references", None):
            record["truncation"] = "response keeps its first max_length - 2 tokens, the prompt its last that fit"
        return record
