from __future__ import annotations

import pytest
import torch

from thresher.ops.nll import projected_nll, segment_sum, token_nll


def _oracle(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    log_probs = torch.log_softmax(logits.double(), dim=-1)
    picked = -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return torch.where(mask, picked, torch.zeros_like(picked))


@pytest.mark.parametrize("chunk_tokens", [1, 3, 1024])
def test_token_nll_matches_log_softmax(chunk_tokens):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 11, generator=generator) * 4
    targets = torch.randint(0, 11, (3, 5), generator=generator)
    mask = torch.rand(3, 5, generator=generator) > 0.3

    nll = token_nll(logits, targets, mask, chunk_tokens=chunk_tokens)

    assert nll.dtype == torch.float32
    torch.testing.assert_close(nll.double(), _oracle(logits, targets, mask), atol=1e-5, rtol=0)
    assert torch.all(nll[~mask] == 0)


def test_token_nll_upcasts_low_precision_logits():
    generator = torch.Generator().manual_seed(1)
    logits = (torch.randn(2, 4, 7, generator=generator) * 3).to(torch.bfloat16)
    targets = torch.randint(0, 7, (2, 4), generator=generator)
    mask = torch.ones(2, 4, dtype=torch.bool)

    nll = token_nll(logits, targets, mask)

    assert nll.dtype == torch.float32
    torch.testing.assert_close(nll.double(), _oracle(logits.float(), targets, mask), atol=1e-5, rtol=0)


def test_token_nll_known_value():
    # Uniform logits over 4 classes: every token costs ln 4.
    nll = token_nll(torch.zeros(1, 2, 4), torch.tensor([[0, 3]]), torch.tensor([[True, True]]))
    torch.testing.assert_close(nll, torch.full((1, 2), float(torch.log(torch.tensor(4.0)))))


def test_token_nll_rejects_bad_shapes():
    with pytest.raises(ValueError):
        token_nll(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.bool))


def test_projected_nll_equals_nll_of_projected_logits():
    generator = torch.Generator().manual_seed(2)
    head = torch.nn.Linear(6, 13, bias=False)
    hidden = torch.randn(10, 6, generator=generator)
    targets = torch.randint(0, 13, (10,), generator=generator)

    with torch.no_grad():
        nll = projected_nll(hidden, targets, head, chunk_tokens=4)
        expected = _oracle(head(hidden).unsqueeze(0), targets.unsqueeze(0), torch.ones(1, 10, dtype=torch.bool))[0]

    torch.testing.assert_close(nll.double(), expected, atol=1e-5, rtol=0)
    assert projected_nll(hidden[:0], targets[:0], head).shape == (0,)


def test_segment_sum_is_float64_per_segment():
    totals = segment_sum(torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([0, 2, 0, 2]), 3)
    assert totals.dtype == torch.float64
    assert totals.tolist() == [4.0, 0.0, 6.0]
