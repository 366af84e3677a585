"""Influence via an inverse-HVP (LiSSA, CG) equals the exact inverse-Hessian computation on logistic regression."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from thresher.ops import influence

# Tiny models: one torch thread avoids OpenMP fork/join overhead (see models/surrogate.single_thread).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def logistic_regression(seed: int = 0, n: int = 60, dimension: int = 5, classes: int = 3):
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n, dimension, generator=generator, dtype=torch.float64)
    targets = torch.randint(0, classes, (n,), generator=generator)
    torch.manual_seed(seed)
    model = nn.Linear(dimension, classes).double()
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(50):
        optimiser.zero_grad()
        F.cross_entropy(model(inputs), targets).backward()
        optimiser.step()
    return model, inputs, targets


def flat(params: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([value.reshape(-1) for value in params.values()])


def exact_influence(model, inputs, targets, damping, target_inputs=None, target_targets=None):
    """The textbook computation: full Hessian by torch.autograd.functional, solve, per-example grads by a loop."""
    names = [name for name, _ in model.named_parameters()]
    shapes = [value.shape for _, value in model.named_parameters()]
    theta = flat(dict(model.named_parameters())).detach()

    def unflatten(vector):
        out, start = {}, 0
        for name, shape in zip(names, shapes, strict=True):
            out[name] = vector[start : start + shape.numel()].view(shape)
            start += shape.numel()
        return out

    def mean_loss(vector, x, y):
        return F.cross_entropy(torch.func.functional_call(model, unflatten(vector), (x,)), y)

    hessian = torch.autograd.functional.hessian(lambda v: mean_loss(v, inputs, targets), theta)
    if target_inputs is None:
        target_inputs, target_targets = inputs, targets
    v = torch.autograd.functional.jacobian(lambda w: mean_loss(w, target_inputs, target_targets), theta)
    h = torch.linalg.solve(hessian + damping * torch.eye(theta.numel(), dtype=theta.dtype), v)
    grads = torch.stack(
        [
            torch.autograd.functional.jacobian(
                lambda w, i=i: mean_loss(w, inputs[i : i + 1], targets[i : i + 1]), theta
            )
            for i in range(targets.shape[0])
        ]
    )
    return grads @ h


def test_hvp_matches_the_full_hessian():
    model, inputs, targets = logistic_regression()
    vector = {name: torch.randn_like(value) for name, value in influence.trainable_params(model).items()}
    product = influence.hvp(model, F.cross_entropy, inputs, targets, vector)
    theta = flat(influence.trainable_params(model))
    names = list(vector)

    def loss(w):
        weight = w[: model.weight.numel()].view(model.weight.shape)
        bias = w[model.weight.numel() :]
        return F.cross_entropy(inputs @ weight.T + bias, targets)

    hessian = torch.autograd.functional.hessian(loss, theta)
    torch.testing.assert_close(flat(product), hessian @ flat({n: vector[n] for n in names}))


@pytest.mark.parametrize("solver", ["lissa", "cg"])
def test_influence_equals_exact_inverse_hessian(solver):
    model, inputs, targets = logistic_regression()
    damp, scale = 0.1, 2.0
    exact = exact_influence(model, inputs, targets, damping=damp * scale)
    # Full-batch LiSSA is deterministic; it converges at rate (1 - damp - λ_min/scale) per step.
    estimate = influence.influence_scores(
        model,
        F.cross_entropy,
        inputs,
        targets,
        solver=solver,
        steps=400 if solver == "lissa" else 200,
        damp=damp,
        scale=scale,
        batch_size=10_000,
    )
    torch.testing.assert_close(estimate, exact, rtol=1e-4, atol=1e-6 * float(exact.abs().max()))


def test_validation_target_and_stochastic_lissa_agree_with_exact():
    model, inputs, targets = logistic_regression()
    val_inputs, val_targets = inputs[:15] + 0.1, targets[:15]
    exact = exact_influence(model, inputs, targets, 0.25, val_inputs, val_targets)
    cg = influence.influence_scores(
        model,
        F.cross_entropy,
        inputs,
        targets,
        target_inputs=val_inputs,
        target_targets=val_targets,
        solver="cg",
        damp=0.01,
        scale=25.0,
        steps=200,
    )
    torch.testing.assert_close(cg, exact, rtol=1e-5, atol=1e-8)
    # Mini-batch LiSSA is a noisy estimate: it should rank examples like the exact scores.
    noisy = influence.influence_scores(
        model,
        F.cross_entropy,
        inputs,
        targets,
        target_inputs=val_inputs,
        target_targets=val_targets,
        solver="lissa",
        damp=0.1,
        scale=2.0,
        steps=400,
        batch_size=20,
        seed=1,
    )
    exact_scale5 = exact_influence(model, inputs, targets, 0.2, val_inputs, val_targets)
    correlation = torch.corrcoef(torch.stack([noisy, exact_scale5]))[0, 1]
    assert correlation > 0.95


def test_tracin_is_the_lr_weighted_sum_of_gradient_dots():
    model, inputs, targets = logistic_regression()
    other, _, _ = logistic_regression(seed=1)
    scores = influence.tracin_scores([(model, 0.1), (other, 0.2)], F.cross_entropy, inputs, targets)
    expected = torch.zeros(targets.shape[0], dtype=torch.float64)
    for checkpoint, lr in [(model, 0.1), (other, 0.2)]:
        params = list(checkpoint.parameters())
        total = torch.autograd.grad(F.cross_entropy(checkpoint(inputs), targets), params)
        for i in range(targets.shape[0]):
            own = torch.autograd.grad(F.cross_entropy(checkpoint(inputs[i : i + 1]), targets[i : i + 1]), params)
            expected[i] += lr * sum((a * b).sum() for a, b in zip(own, total, strict=True))
    torch.testing.assert_close(scores, expected)


@pytest.mark.parametrize("solver", ["lissa", "cg"])
def test_the_solver_reports_its_steps_and_ends_at_the_total_when_it_stops_early(solver):
    model, inputs, targets = logistic_regression()
    steps = []
    influence.influence_scores(
        model,
        F.cross_entropy,
        inputs,
        targets,
        solver=solver,
        steps=5000,  # full-batch LiSSA and CG both converge long before
        batch_size=len(targets),
        on_step=lambda step, total: steps.append((step, total)),
    )
    assert steps[-1] == (5000, 5000) and len(steps) < 5000
    done = [step for step, _ in steps[:-1]]
    assert done == list(range(1, len(done) + 1))
