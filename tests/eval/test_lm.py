"""The lm target trains with `thresher train-ref`'s loop: the same stream, config and seed give the same model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from tests.models.test_reference import make_corpus
from thresher.errors import OptionError
from thresher.eval.lm import LmTarget, PreparedLm
from thresher.models.reference import train_reference_model

TINY = {"vocab_size": 300, "min_frequency": 1, "n_layer": 1, "n_embd": 32, "context_length": 32, "batch_size": 8}


@pytest.fixture
def texts() -> list[str]:
    return make_corpus(60)


def test_the_lm_target_and_train_ref_train_the_same_parameters(texts, tmp_path, one_torch_thread):
    config = LmTarget(**TINY, epochs=None, max_steps=6).reference_config()
    prepared = PreparedLm(texts, texts[:5], config)
    model, steps = prepared.train(np.arange(len(texts)), seed=4)
    summary = train_reference_model(texts, dataclasses.replace(config, seed=4), tmp_path / "ref")
    saved = AutoModelForCausalLM.from_pretrained(tmp_path / "ref").state_dict()
    trained = model.state_dict()
    assert steps == summary.steps == 6
    assert sorted(saved) == sorted(trained)
    assert all(torch.equal(trained[name], saved[name]) for name in saved)
    # Not equal by construction: another seed trains other parameters.
    other, _ = prepared.train(np.arange(len(texts)), seed=5)
    assert not torch.equal(other.state_dict()["transformer.wte.weight"], saved["transformer.wte.weight"])


def test_budgets_set_the_steps_and_parameters_are_checked(texts, one_torch_thread):
    config = LmTarget(**TINY, epochs=1.0).reference_config()
    by_epochs = PreparedLm(texts, texts[:5], config, budget="epochs")
    by_tokens = PreparedLm(texts, texts[:5], config, budget="tokens")
    half = np.arange(0, len(texts), 2)
    assert by_tokens.train(half, seed=0)[1] == by_tokens.full_steps
    assert by_epochs.train(half, seed=0)[1] < by_epochs.full_steps == by_epochs.train(np.arange(len(texts)), 0)[1]
    with pytest.raises(OptionError, match="n_embd"):
        LmTarget(n_embd=30, n_head=4).validate()
