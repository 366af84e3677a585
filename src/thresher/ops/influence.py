"""Influence functions and TracIn on a small differentiable model: pure math over a model, a loss and tensors.

Influence of training example s on a target loss L̄ (the mean training loss, or a validation loss), as DEALRec
computes it (Lin et al. 2024, Eq. 11 and Alg. 1):

    I_s = ∇ℓ(s, θ̂)ᵀ (H + λI)⁻¹ ∇L̄(θ̂)

The inverse-Hessian-vector product h = (H + λI)⁻¹ ∇L̄ is computed once (LiSSA or conjugate gradient) and dotted
with every example's gradient (`torch.func.vmap` of `grad`). Removing s from n examples changes L̄ by about
+I_s / n, so a higher I_s means a more helpful example.

LiSSA follows DEALRec's code: h ← v + (1 − damp)·h − HVP(batch_t, h)/scale, whose fixed point is
scale·(H + damp·scale·I)⁻¹ v; the result is divided by `scale`, so both solvers return (H + λI)⁻¹ v with
λ = damp·scale (0.25 for DEALRec's damp 0.01, scale 25).

Every function takes `model` (an `nn.Module` whose trainable parameters are θ) and `criterion(outputs, targets)`
returning a mean loss; data are (inputs, targets) tensors batched along dim 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

Params = dict[str, torch.Tensor]
Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
StepCallback = Callable[[int, int], None]  # (steps done, steps at most) of an inverse-HVP solver


def trainable_params(model: nn.Module) -> Params:
    """θ: the model's trainable parameters, detached, by name."""
    return {name: value.detach() for name, value in model.named_parameters() if value.requires_grad}


def _loss_fn(model: nn.Module, criterion: Criterion) -> Callable[[Params, torch.Tensor, torch.Tensor], torch.Tensor]:
    from torch.func import functional_call

    buffers = {name: value.detach() for name, value in model.named_buffers()}

    def loss(params: Params, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return criterion(functional_call(model, (params, buffers), (inputs,)), targets)

    return loss


def _dot(a: Params, b: Params) -> torch.Tensor:
    return sum((a[name] * b[name]).sum() for name in a)  # type: ignore[return-value]


def _combine(a: Params, b: Params, alpha: float = 1.0, beta: float = 1.0) -> Params:
    return {name: alpha * a[name] + beta * b[name] for name in a}


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def mean_gradient(
    model: nn.Module, criterion: Criterion, inputs: torch.Tensor, targets: torch.Tensor, *, batch_size: int = 4096
) -> Params:
    """∇θ of the mean loss over all (inputs, targets), accumulated over batches."""
    from torch.func import grad

    loss_grad = grad(_loss_fn(model, criterion))
    params = trainable_params(model)
    n = targets.shape[0]
    total = {name: torch.zeros_like(value) for name, value in params.items()}
    for part in _chunks(n, batch_size):
        grads = loss_grad(params, inputs[part], targets[part])
        weight = (part.stop - part.start) / n
        total = {name: total[name] + weight * grads[name] for name in total}
    return total


def hvp(model: nn.Module, criterion: Criterion, inputs: torch.Tensor, targets: torch.Tensor, vector: Params) -> Params:
    """H·v, the Hessian of the mean loss on (inputs, targets) at θ times `vector` (double backward).

    Plain autograd rather than `torch.func.jvp`: LiSSA calls this thousands of times on a small model, where the
    functorch transforms' per-call overhead dominates.
    """
    named = [(name, value) for name, value in model.named_parameters() if value.requires_grad]
    params = [value for _, value in named]
    with torch.enable_grad():
        loss = criterion(model(inputs), targets)
        grads = torch.autograd.grad(loss, params, create_graph=True)
        inner = sum((g * vector[name]).sum() for g, (name, _) in zip(grads, named, strict=True))
        products = torch.autograd.grad(inner, params)
    return {name: product.detach() for (name, _), product in zip(named, products, strict=True)}


def full_hvp(
    model: nn.Module,
    criterion: Criterion,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    vector: Params,
    *,
    batch_size: int = 4096,
) -> Params:
    """H·v over the whole data set, in batches (exact, for conjugate gradient)."""
    n = targets.shape[0]
    total = {name: torch.zeros_like(value) for name, value in vector.items()}
    for part in _chunks(n, batch_size):
        product = hvp(model, criterion, inputs[part], targets[part], vector)
        total = _combine(total, product, 1.0, (part.stop - part.start) / n)
    return total


def lissa(
    model: nn.Module,
    criterion: Criterion,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    vector: Params,
    *,
    steps: int = 5000,
    damp: float = 0.01,
    scale: float = 25.0,
    batch_size: int = 128,
    seed: int = 0,
    on_step: StepCallback | None = None,
) -> Params:
    """(H + damp·scale·I)⁻¹ v by DEALRec's LiSSA recursion over random mini-batches (one recursion, no averaging).

    With `batch_size` ≥ n every step uses the full Hessian and the result is deterministic. `scale` must exceed
    H's largest eigenvalue for the recursion to converge; the returned estimate is divided by `scale`.
    `on_step(step, steps)` is called after every step, and with (steps, steps) when the recursion stops early.
    """
    n = targets.shape[0]
    generator = torch.Generator().manual_seed(seed)
    full_batch = batch_size >= n
    estimate = dict(vector)
    for step in range(1, steps + 1):
        if full_batch:
            batch_inputs, batch_targets = inputs, targets
        else:
            index = torch.randint(0, n, (batch_size,), generator=generator).to(targets.device)
            batch_inputs, batch_targets = inputs[index], targets[index]
        product = hvp(model, criterion, batch_inputs, batch_targets, estimate)
        previous = estimate
        estimate = {name: vector[name] + (1.0 - damp) * estimate[name] - product[name] / scale for name in estimate}
        # Full-batch recursion is deterministic: once it stops moving, more steps change nothing.
        change = _combine(estimate, previous, 1.0, -1.0)
        converged = full_batch and float(_dot(change, change)) <= 1e-24 * float(_dot(estimate, estimate))
        if on_step is not None:
            on_step(steps if converged else step, steps)
        if converged:
            break
    return {name: value / scale for name, value in estimate.items()}


def conjugate_gradient(
    model: nn.Module,
    criterion: Criterion,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    vector: Params,
    *,
    damping: float = 0.25,
    steps: int = 100,
    tolerance: float = 1e-8,
    batch_size: int = 4096,
    on_step: StepCallback | None = None,
) -> Params:
    """(H + damping·I)⁻¹ v by conjugate gradient with exact full-data Hessian-vector products.

    Stops after `steps` iterations, when the residual norm falls below `tolerance`·||v||, or when the damped
    Hessian shows non-positive curvature along a search direction (then the current estimate is returned).
    `on_step(step, steps)` is called after every iteration, and with (steps, steps) when it stops early.
    """

    def damped_hvp(direction: Params) -> Params:
        product = full_hvp(model, criterion, inputs, targets, direction, batch_size=batch_size)
        return _combine(product, direction, 1.0, damping)

    solution = {name: torch.zeros_like(value) for name, value in vector.items()}
    residual = dict(vector)
    direction = dict(vector)
    residual_norm = _dot(residual, residual)
    stop = (tolerance**2) * float(residual_norm)
    for step in range(1, steps + 1):
        if float(residual_norm) <= stop:
            break
        product = damped_hvp(direction)
        curvature = _dot(direction, product)
        if float(curvature) <= 0.0:
            break
        alpha = residual_norm / curvature
        solution = _combine(solution, direction, 1.0, float(alpha))
        residual = _combine(residual, product, 1.0, -float(alpha))
        new_norm = _dot(residual, residual)
        direction = _combine(residual, direction, 1.0, float(new_norm / residual_norm))
        residual_norm = new_norm
        if on_step is not None:
            on_step(step, steps)
    if on_step is not None:
        on_step(steps, steps)
    return solution


def grad_dot(
    model: nn.Module,
    criterion: Criterion,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    direction: Params,
    *,
    chunk: int = 512,
) -> torch.Tensor:
    """∇θ ℓ(example i)ᵀ · direction for every example, shape (n,), by `vmap(grad)` in chunks."""
    from torch.func import grad, vmap

    loss = _loss_fn(model, criterion)

    def example_loss(params: Params, example_input: torch.Tensor, example_target: torch.Tensor) -> torch.Tensor:
        return loss(params, example_input.unsqueeze(0), example_target.unsqueeze(0))

    per_example = vmap(grad(example_loss), in_dims=(None, 0, 0))
    params = trainable_params(model)
    dots = []
    for part in _chunks(targets.shape[0], chunk):
        grads = per_example(params, inputs[part], targets[part])
        dots.append(sum((grads[name] * direction[name].unsqueeze(0)).flatten(1).sum(1) for name in grads))
    return torch.cat(dots) if dots else torch.zeros(0)


def influence_scores(
    model: nn.Module,
    criterion: Criterion,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    target_inputs: torch.Tensor | None = None,
    target_targets: torch.Tensor | None = None,
    solver: str = "lissa",
    steps: int = 5000,
    damp: float = 0.01,
    scale: float = 25.0,
    batch_size: int = 128,
    seed: int = 0,
    on_step: StepCallback | None = None,
) -> torch.Tensor:
    """I_s = ∇ℓ(s)ᵀ (H + damp·scale·I)⁻¹ ∇L̄ for every training example s, shape (n,).

    H is the Hessian of the mean training loss at the model's parameters; L̄ is the mean loss on
    (target_inputs, target_targets) when given (a validation set), else the mean training loss.
    `solver` is "lissa" (stochastic, `steps` mini-batches of `batch_size`) or "cg" (exact HVPs, at most `steps`);
    `on_step(step, steps)` follows the solver.
    """
    if target_inputs is None or target_targets is None:
        target_inputs, target_targets = inputs, targets
    vector = mean_gradient(model, criterion, target_inputs, target_targets)
    if solver == "lissa":
        direction = lissa(
            model,
            criterion,
            inputs,
            targets,
            vector,
            steps=steps,
            damp=damp,
            scale=scale,
            batch_size=batch_size,
            seed=seed,
            on_step=on_step,
        )
    elif solver == "cg":
        direction = conjugate_gradient(
            model, criterion, inputs, targets, vector, damping=damp * scale, steps=steps, on_step=on_step
        )
    else:
        raise ValueError(f"unknown inverse-HVP solver {solver!r}")
    return grad_dot(model, criterion, inputs, targets, direction)


def tracin_scores(
    checkpoints: Sequence[tuple[nn.Module, float]],
    criterion: Criterion,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    target_inputs: torch.Tensor | None = None,
    target_targets: torch.Tensor | None = None,
) -> torch.Tensor:
    """TracInCP (Pruthi et al. 2020): Σ_k lr_k · ∇ℓ(s, θ_k)ᵀ ∇L̄(θ_k) over checkpoints (model_k, lr_k), shape (n,).

    L̄ is the mean loss on the target set (validation) when given, else the mean training loss.
    """
    if target_inputs is None or target_targets is None:
        target_inputs, target_targets = inputs, targets
    total = torch.zeros(targets.shape[0], dtype=torch.float64, device=targets.device)
    for model, learning_rate in checkpoints:
        vector = mean_gradient(model, criterion, target_inputs, target_targets)
        total += learning_rate * grad_dot(model, criterion, inputs, targets, vector).double()
    return total
