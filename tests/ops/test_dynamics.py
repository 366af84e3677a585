import numpy as np
import pytest

from thresher.ops import dynamics


def test_el2n_is_the_l2_norm_of_softmax_minus_onehot():
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0], [-3.0, 4.0, 0.5]])
    labels = np.array([0, 2, 0])
    probs = dynamics.softmax(logits)
    expected = [np.sqrt(np.sum((probs[i] - np.eye(3)[labels[i]]) ** 2)) for i in range(3)]
    np.testing.assert_allclose(dynamics.el2n(probs, labels), expected)
    np.testing.assert_allclose(dynamics.el2n(np.eye(3), [0, 1, 2]), 0.0)
    np.testing.assert_allclose(dynamics.el2n(np.eye(2), [1, 0]), np.sqrt(2.0))


def test_margins_and_aum_on_scripted_logits():
    logits = np.array([[3.0, 1.0, 2.0], [0.0, 5.0, 1.0]])
    np.testing.assert_allclose(dynamics.margins(logits, np.array([0, 0])), [1.0, -5.0])
    history = np.array([[1.0, -2.0], [3.0, -1.0], [2.0, 0.0]])  # (epochs, examples)
    np.testing.assert_allclose(dynamics.aum(history), [2.0, -1.0])


def test_forgetting_counts_transitions_and_ranks_never_learned_highest():
    history = np.array(
        [
            # ex0: learned once, never forgotten; ex1: forgotten twice; ex2: never learned; ex3: learned late
            [1, 1, 0, 0],
            [1, 0, 0, 0],
            [1, 1, 0, 0],
            [1, 0, 0, 1],
            [1, 1, 0, 1],
        ],
        dtype=bool,
    )
    events = dynamics.forgetting_events(history)
    np.testing.assert_array_equal(events, [0.0, 2.0, 5.0, 0.0])
    assert events.argmax() == 2
    with pytest.raises(ValueError):
        dynamics.forgetting_events(np.ones(3, dtype=bool))


def test_vog_is_variance_over_checkpoints_normalised_within_class():
    rng = np.random.default_rng(0)
    grads = rng.normal(size=(4, 6, 3))  # (checkpoints, examples, dimension)
    labels = np.array([0, 0, 0, 1, 1, 1])
    raw = np.array([np.mean(np.var(grads[:, i, :], axis=0)) for i in range(6)])
    np.testing.assert_allclose(dynamics.vog_raw(grads), raw)
    scores = dynamics.vog(grads, labels)
    for label in (0, 1):
        members = labels == label
        np.testing.assert_allclose(scores[members], (raw[members] - raw[members].mean()) / raw[members].std())
        assert abs(scores[members].mean()) < 1e-12 and abs(scores[members].std() - 1) < 1e-12
    # A class whose members all have the same variance is centred, not divided by zero.
    np.testing.assert_array_equal(dynamics.normalise_within_class(np.array([2.0, 2.0, 5.0]), [0, 0, 1]), 0.0)


def test_data_map_statistics():
    true_probs = np.array([[0.9, 0.1], [0.7, 0.5], [0.8, 0.9]])
    correct = true_probs > 0.5
    stats = dynamics.data_map(true_probs, correct)
    np.testing.assert_allclose(stats["confidence"], [0.8, 0.5])
    np.testing.assert_allclose(stats["variability"], [np.std([0.9, 0.7, 0.8]), np.std([0.1, 0.5, 0.9])])
    np.testing.assert_allclose(stats["correctness"], [1.0, 1 / 3])
