"""The effort scorer: DEALRec's δ_s = ||∇_φ L_LLM(s)||₂, the gradient norm of an example's mean token loss w.r.t.
LoRA parameters φ of a causal LM whose base weights stay frozen.

Which LoRA parameters: a fresh adapter has B = 0, so the gradient w.r.t. A is exactly zero and the norm is the
norm of ∇_B = s·(∇_W L)·Aᵀ, a seeded random rank-r projection of the gradient w.r.t. the frozen weight W that the
adapter wraps. That is what "effort" asks (how far the LM must move for this example), measured through a random
sketch, and it is what DEALRec's code reads (`lora_B` of the last layer's v_proj); its adapter was trained first,
which this scorer does not do. The norm is taken over every LoRA matrix (A and B), so an adapter with B ≠ 0 would
count A too. `--lora-layers 1` (default) follows DEALRec and puts the adapter on the last block only, so the
backward pass stops there; `--lora-layers 0` uses every block.

Prompt/response data: with `--prompt-field P` the loss is on the response only (the `--text-field`, or
`--response-field R`), conditioned on the prompt; without it, on every token of the text after the first. The
reader puts those fields in every batch (`input_fields`), so each example is scored on its own: no fitting pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import torch

from thresher.data.fields import PROMPT_COLUMN, RESPONSE_COLUMN, TEXT_COLUMN
from thresher.errors import OptionError
from thresher.scorers.base import Direction, RunContext, ScoreColumn, Scorer

EFFORT_COLUMN = ScoreColumn(
    "effort",
    Direction.HIGHER,
    "||∇_LoRA mean token loss||₂ of the LM (fresh adapter: ||∇ lora_B||): how hard the example is to learn",
)


class EffortScorer(Scorer):
    """Gradient norm of each example's mean token loss w.r.t. LoRA parameters (higher = more effort to learn).

    Parameters
    ----------
    model:
        Hugging Face id, local directory or `.gguf` file of a causal LM.
    lora_target:
        Comma-separated module names for the adapters (default: v_proj, else GPT-2's c_attn, else value).
    lora_rank:
        Adapter rank r.
    lora_layers:
        Adapters on the last K blocks (1 = DEALRec's choice); 0 = every block.
    prompt_field:
        Input field holding a prompt; the loss is then on the response tokens only.
    response_field:
        Input field holding the response (default: the run's text); needs prompt_field.
    max_length:
        Most tokens per example (the prompt is cut from its start first).
    batch_size:
        Examples per forward/backward pass.
    dtype:
        float32 (default) | bfloat16 | auto.
    device:
        auto | cpu | cuda.
    seed:
        Seeds the adapter's random A matrices.
    """

    name = "effort"
    columns = (EFFORT_COLUMN,)

    def __init__(
        self,
        *,
        model: str,
        lora_target: str | None = None,
        lora_rank: int = 8,
        lora_layers: int = 1,
        prompt_field: str | None = None,
        response_field: str | None = None,
        max_length: int = 256,
        batch_size: int = 16,
        dtype: str = "float32",
        device: str = "auto",
        seed: int = 0,
    ) -> None:
        self.model = model
        self.lora_target = lora_target
        self.lora_rank = lora_rank
        self.lora_layers = lora_layers
        self.prompt_field = prompt_field
        self.response_field = response_field
        self.max_length = max_length
        self.batch_size = batch_size
        self.dtype = dtype
        self.device = device
        self.seed = seed

    _model: Any = None
    _tokenizer: Any = None
    _loaded: Any = None

    def setup(self, context: RunContext) -> None:
        from thresher.models import lora
        from thresher.models.device import resolve_device, resolve_dtype
        from thresher.models.loading import load_causal_lm

        if self.lora_layers < 0 or self.batch_size < 1:
            raise OptionError("--lora-layers must be 0 (every block) or more, and the batch size at least 1")
        if self.response_field is not None and self.prompt_field is None:
            raise OptionError("--response-field needs --prompt-field (without a prompt the text is the example)")
        device = resolve_device(self.device)
        self._loaded = load_causal_lm(self.model, dtype=resolve_dtype(self.dtype, device), device=device)
        base = self._loaded.model
        for parameter in base.parameters():
            parameter.requires_grad_(False)
        self._model = lora.attach_lora(
            base,
            targets=lora.resolve_targets(base, self.lora_target),
            rank=self.lora_rank,
            last_layers=self.lora_layers or None,
            seed=self.seed,
        ).eval()
        self._tokenizer = self._loaded.tokenizer

    def input_fields(self) -> dict[str, str]:
        """The prompt (and response) fields, read into every batch's `prompt` (and `response`) column."""
        fields = {}
        if self.prompt_field is not None:
            fields[PROMPT_COLUMN] = self.prompt_field
        if self.response_field is not None:
            fields[RESPONSE_COLUMN] = self.response_field
        return fields

    def pairs(self, batch: pa.RecordBatch) -> list[tuple[str | None, str]]:
        """(prompt or None, response) of every example of the batch, from the columns the reader added."""
        names = batch.schema.names
        for column, field in self.input_fields().items():
            if column not in names:
                raise OptionError(f"scorer effort: --{column}-field {field} was not read into the batch")
        responses = batch.column(RESPONSE_COLUMN if self.response_field else TEXT_COLUMN).to_pylist()
        if self.prompt_field is None:
            return [(None, response) for response in responses]
        prompts = batch.column(PROMPT_COLUMN).to_pylist()
        return list(zip(prompts, responses, strict=True))

    def effort(self, pairs: list[tuple[str | None, str]]) -> np.ndarray:
        """Effort of each (prompt, response) pair (a None prompt: the loss is on the whole response)."""
        from thresher.models import lora

        if self._model is None:
            raise RuntimeError("scorer effort: call setup() before scoring")
        max_length = min(self.max_length, self._loaded.max_length or self.max_length)
        encoded = [
            lora.encode_example(self._tokenizer, response, prompt=prompt, max_length=max_length)
            for prompt, response in pairs
        ]
        pad_id = self._tokenizer.pad_token_id if self._tokenizer.pad_token_id is not None else 0
        # Length-sorted batches waste little padding; each example's norm does not depend on its batch.
        order = np.argsort([len(example.input_ids) for example in encoded], kind="stable")
        norms = np.zeros(len(encoded), dtype=np.float64)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch = lora.collate([encoded[row] for row in rows], pad_id, self._loaded.device)
            norms[rows] = lora.lora_grad_norms(self._model, batch).cpu().numpy()
            self.report_progress(len(rows), int(batch["attention_mask"].sum()))
        return norms

    def score_batch(self, batch: pa.RecordBatch) -> dict[str, np.ndarray]:
        return {"effort": self.effort(self.pairs(batch))}

    def provenance(self) -> dict[str, Any]:
        if self._loaded is None:
            return {}
        return {
            "model": self._loaded.source,
            "model_fingerprint": self._loaded.fingerprint,
            "tokenizer": self._loaded.tokenizer_name,
            "dtype": str(self._loaded.dtype).removeprefix("torch."),
            "device": str(self._loaded.device),
        }

    def teardown(self) -> None:
        self._model = None
        self._loaded = None
        self._tokenizer = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
