"""LoRA adapters on a causal LM, prompt/response encoding, and per-example LoRA gradient norms.

Shared by the effort scorer (DEALRec's δ_s = ||∇_φ L(s)||₂ over the adapter's parameters φ) and the `sft` eval
target (LoRA fine-tuning on a selected subset). peft is imported lazily, so `import thresher` stays light.

Per-example gradients come from one batched backward pass: every LoRA matrix is an `nn.Linear` without bias used
once per forward, so example i's gradient of its weight is Σ_t g_it x_itᵀ, from the layer's input x and output
gradient g, which forward hooks capture (Goodfellow 2015). The loss is the sum of per-example mean losses, so no
example's gradient mixes with another's; right padding and causal attention keep padded positions out of it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from thresher.errors import ModelError, OptionError

IGNORE_INDEX = -100
# Tried in order when --lora-target is not given: Llama-style attention, GPT-2's fused qkv, BERT-style.
DEFAULT_TARGET_GROUPS: tuple[tuple[str, ...], ...] = (("v_proj",), ("c_attn",), ("value",))


def parse_targets(spec: str | Sequence[str] | None) -> list[str] | None:
    """Module names of `--lora-target q_proj,v_proj` (None = choose by architecture)."""
    if spec is None:
        return None
    names = [part.strip() for part in spec.split(",")] if isinstance(spec, str) else [str(s) for s in spec]
    names = [name for name in names if name]
    if not names:
        raise OptionError("--lora-target is empty; give module names such as v_proj or c_attn")
    return names


def resolve_targets(model: nn.Module, spec: str | Sequence[str] | None) -> list[str]:
    """The LoRA target module names for `model`: `spec` checked against its modules, or a default by architecture."""
    leaf_names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    wanted = parse_targets(spec)
    if wanted is None:
        for group in DEFAULT_TARGET_GROUPS:
            if all(name in leaf_names for name in group):
                return list(group)
        raise OptionError("no default LoRA target fits this model; give --lora-target MODULE[,MODULE...]")
    missing = [name for name in wanted if name not in leaf_names]
    if missing:
        raise OptionError(f"--lora-target: the model has no module named {', '.join(missing)}")
    return wanted


def num_layers(model: nn.Module) -> int:
    """How many transformer blocks `model` has (`num_hidden_layers` or `n_layer` of its config)."""
    config = getattr(model, "config", None)
    for attribute in ("num_hidden_layers", "n_layer"):
        value = getattr(config, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    raise ModelError("cannot tell how many layers the model has; leave --lora-layers unset")


def attach_lora(
    model: nn.Module,
    *,
    targets: Sequence[str],
    rank: int,
    alpha: float | None = None,
    last_layers: int | None = None,
    seed: int = 0,
) -> nn.Module:
    """`model` wrapped with fresh LoRA adapters (A random, B zero, seeded); base weights frozen.

    `last_layers` k puts adapters on the last k blocks only (DEALRec's effort reads only the last block's
    v_proj), so a backward pass stops there. Dropout is 0 so that gradients and training are deterministic.
    """
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:  # pragma: no cover - dev installs include peft
        raise ModelError("LoRA (effort, dealrec, eval --task sft) needs peft: pip install 'thresher[lora]'") from None
    if rank < 1:
        raise OptionError(f"--lora-rank must be at least 1, got {rank}")
    fan_in_fan_out = any(type(module).__name__ == "Conv1D" for module in model.modules())  # GPT-2's linear layers
    layers = None
    if last_layers is not None:
        total = num_layers(model)
        if not 1 <= last_layers <= total:
            raise OptionError(f"--lora-layers must be between 1 and the model's {total} layers, got {last_layers}")
        layers = list(range(total - last_layers, total))
    config = LoraConfig(
        r=rank,
        layers_to_transform=layers,
        lora_alpha=alpha if alpha is not None else 2 * rank,
        lora_dropout=0.0,
        target_modules=list(targets),
        fan_in_fan_out=fan_in_fan_out,
        bias="none",
        task_type="CAUSAL_LM",
    )
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # peft calls a transformers API deprecated in v5
        torch.manual_seed(seed)
        wrapped = get_peft_model(model, config)
    return wrapped


def lora_layers(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """Every LoRA A and B matrix of `model` (as `nn.Linear` layers), by qualified name."""
    layers = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and (".lora_A." in name or ".lora_B." in name)
    ]
    if not layers:
        raise ModelError("the model has no LoRA layers")
    return layers


# ----------------------------------------------------------------------------------------------------------------
# Encoding prompt/response pairs and plain texts


@dataclass(frozen=True)
class Encoded:
    """Token ids and the loss targets: -100 where no loss is taken (the prompt, the first token)."""

    input_ids: list[int]
    labels: list[int]


def encode_example(
    tokenizer: Any, text: str, *, prompt: str | None = None, max_length: int = 256, add_eos: bool | None = None
) -> Encoded:
    """Tokens of `prompt + text` with the loss on `text`'s tokens only (on every token after the first without a
    prompt). With a prompt, the response ends with EOS (`add_eos`), so the model learns where it stops.

    Too long: the prompt loses tokens from its start first, then the response from its end.
    """
    if max_length < 2:
        raise OptionError(f"--max-length must be at least 2, got {max_length}")
    response_ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
    eos = tokenizer.eos_token_id
    if (add_eos if add_eos is not None else prompt is not None) and eos is not None:
        response_ids.append(eos)
    if prompt is None:
        ids = response_ids[:max_length]
        return Encoded(ids, [IGNORE_INDEX] + ids[1:])
    prompt_ids = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    if not prompt_ids:  # something must precede the first response token for it to be predicted
        prompt_ids = [eos if eos is not None else tokenizer.pad_token_id or 0]
    room_for_prompt = max(1, max_length - len(response_ids))
    prompt_ids = prompt_ids[-room_for_prompt:]
    response_ids = response_ids[: max_length - len(prompt_ids)]
    return Encoded(prompt_ids + response_ids, [IGNORE_INDEX] * len(prompt_ids) + response_ids)


def collate(examples: Sequence[Encoded], pad_id: int, device: torch.device | None = None) -> dict[str, torch.Tensor]:
    """Right-padded `input_ids`, `attention_mask` and `labels` (-100 on padding)."""
    length = max(len(example.input_ids) for example in examples)
    input_ids = torch.full((len(examples), length), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), length), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), length), dtype=torch.long)
    for row, example in enumerate(examples):
        size = len(example.input_ids)
        input_ids[row, :size] = torch.tensor(example.input_ids)
        labels[row, :size] = torch.tensor(example.labels)
        attention_mask[row, :size] = 1
    batch = {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
    return {name: value.to(device) for name, value in batch.items()} if device is not None else batch


def token_losses(model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-token NLL shaped (b, T-1) in float32, zero where no loss is taken; the mask of scored tokens)."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    targets = batch["labels"][:, 1:]
    mask = targets != IGNORE_INDEX
    nll = F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), targets.clamp_min(0).reshape(-1), reduction="none"
    ).view(targets.shape)
    return nll * mask, mask


def mean_losses(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Each example's mean token loss over its scored tokens, shape (b,)."""
    nll, mask = token_losses(model, batch)
    return nll.sum(dim=1) / mask.sum(dim=1).clamp_min(1)


def sequence_log_likelihoods(model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed NLL of each example's scored tokens, number of scored tokens), both shaped (b,)."""
    nll, mask = token_losses(model, batch)
    return nll.sum(dim=1), mask.sum(dim=1)


# ----------------------------------------------------------------------------------------------------------------
# Per-example gradient norms over the LoRA parameters


def lora_grad_norms(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """||∇_φ mean-token-loss(example)||₂ over every LoRA matrix φ, per example of `batch`, shape (b,), float64.

    One forward and one backward pass for the whole batch; parameter `.grad`s are left untouched.
    """
    layers = lora_layers(model)
    captured: dict[str, list[torch.Tensor]] = {}

    def capture(name: str):
        def hook(_module: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            captured[name] = [args[0].detach()]
            output.register_hook(lambda grad: captured[name].append(grad.detach()))

        return hook

    handles = [module.register_forward_hook(capture(name)) for name, module in layers]
    try:
        with torch.enable_grad():
            losses = mean_losses(model, batch)
            outputs = [captured[name] for name, _ in layers]
            inputs_needing_grad = [module.weight for _, module in layers]
            # Gradients w.r.t. the LoRA weights drive the output hooks; the weight grads themselves are discarded.
            torch.autograd.grad(losses.sum(), inputs_needing_grad, allow_unused=True)
    finally:
        for handle in handles:
            handle.remove()
    squared = torch.zeros(batch["input_ids"].shape[0], dtype=torch.float64, device=batch["input_ids"].device)
    for pair in outputs:
        if len(pair) != 2:
            raise ModelError("a LoRA layer got no gradient; is it used in the forward pass?")
        layer_input, output_grad = (tensor.to(torch.float64) for tensor in pair)
        if layer_input.ndim == 2:  # some models flatten (b·T, features)
            layer_input = layer_input.view(squared.shape[0], -1, layer_input.shape[-1])
            output_grad = output_grad.view(squared.shape[0], -1, output_grad.shape[-1])
        per_example = torch.einsum("bto,bti->boi", output_grad, layer_input)
        squared += per_example.pow(2).sum(dim=(1, 2))
    return squared.sqrt()


def lora_grad_norms_loop(model: nn.Module, examples: Sequence[Encoded], pad_id: int) -> torch.Tensor:
    """The same norms, one example and one backward pass at a time through `.grad` (the reference)."""
    params = [module.weight for _, module in lora_layers(model)]
    norms = []
    for example in examples:
        loss = mean_losses(model, collate([example], pad_id))[0]
        grads = torch.autograd.grad(loss, params)
        norms.append(torch.sqrt(sum(g.double().pow(2).sum() for g in grads)))
    return torch.stack(norms)
