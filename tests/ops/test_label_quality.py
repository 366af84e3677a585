import numpy as np
import pytest

from thresher.models import crossfit
from thresher.ops import dynamics, label_quality


def test_folds_are_seeded_balanced_and_stratified():
    labels = np.repeat([0, 1, 2], [23, 11, 3])
    folds = label_quality.cross_fit_folds(labels, 5, seed=7)
    np.testing.assert_array_equal(folds, label_quality.cross_fit_folds(labels, 5, seed=7))
    assert not np.array_equal(folds, label_quality.cross_fit_folds(labels, 5, seed=8))
    sizes = np.bincount(folds, minlength=5)
    assert sizes.max() - sizes.min() <= 1 and sizes.sum() == labels.size
    for label in range(3):
        per_fold = np.bincount(folds[labels == label], minlength=5)
        assert per_fold.max() - per_fold.min() <= 1
    # The 3 examples of class 2 land in 3 distinct folds.
    assert len(set(folds[labels == 2].tolist())) == 3
    with pytest.raises(ValueError, match="folds"):
        label_quality.cross_fit_folds(labels[:3], 5, seed=0)


def test_scores_match_cleanlabs_definitions():
    from cleanlab.rank import get_normalized_margin_for_each_label, get_self_confidence_for_each_label

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=50)
    labels = rng.integers(0, 4, size=50)
    np.testing.assert_allclose(
        label_quality.self_confidence(probs, labels), get_self_confidence_for_each_label(labels, probs)
    )
    np.testing.assert_allclose(
        label_quality.normalized_margin(probs, labels), get_normalized_margin_for_each_label(labels, probs)
    )
    entropy = np.array([-sum(p * np.log(p) for p in row) / np.log(4) for row in probs])
    np.testing.assert_allclose(label_quality.normalized_entropy(probs), entropy)
    assert label_quality.normalized_entropy(np.full((1, 4), 0.25))[0] == pytest.approx(1.0)
    assert label_quality.normalized_entropy(np.array([[1.0, 0.0, 0.0]]))[0] == 0.0


def logistic_problem(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three overlapping Gaussian classes in 6 dimensions, on different scales per dimension."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=n)
    centres = rng.normal(size=(3, 6)) * 1.5
    features = (centres[labels] + rng.normal(size=(n, 6))) * np.array([1, 10, 0.1, 3, 1, 50])
    return features.astype(np.float32), labels


def test_out_of_fold_logreg_equals_a_hand_written_k_fold():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    features, labels = logistic_problem()
    config = crossfit.CrossFitConfig(proxy="logreg", folds=4, seed=3)
    probs, folds = crossfit.out_of_fold_probs(features, labels, 3, config)
    np.testing.assert_array_equal(folds, label_quality.cross_fit_folds(labels, 4, seed=3))
    expected = np.zeros((labels.size, 3))
    for fold in range(4):
        held_out = folds == fold
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.003, max_iter=1000))
        model.fit(features[~held_out].astype(np.float64), labels[~held_out])
        expected[held_out] = model.predict_proba(features[held_out].astype(np.float64))
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    # Out of fold: the held-out fold's labels do not change its own predictions.
    flipped = labels.copy()
    flipped[folds == 0] = (flipped[folds == 0] + 1) % 3
    again, _ = crossfit.out_of_fold_probs(features, flipped, 3, config, folds=folds)
    np.testing.assert_allclose(again[folds == 0], probs[folds == 0], atol=1e-5)
    assert not np.allclose(again[folds == 1], probs[folds == 1])


def test_out_of_fold_head_is_seeded_and_predicts_held_out_examples():
    features, labels = logistic_problem(n=90)
    config = crossfit.CrossFitConfig(proxy="head", folds=3, seed=0, epochs=8, learning_rate=3e-2, batch_size=32)
    probs, folds = crossfit.out_of_fold_probs(features / features.std(axis=0), labels, 3, config, device="cpu")
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    again, _ = crossfit.out_of_fold_probs(features / features.std(axis=0), labels, 3, config, device="cpu")
    np.testing.assert_array_equal(probs, again)
    assert (probs.argmax(axis=1) == labels).mean() > 0.6  # 3 classes: chance is 1/3


def test_a_class_missing_from_the_training_folds_gets_probability_zero():
    features = np.array([[0.0], [0.1], [1.0], [1.1], [5.0]], dtype=np.float32)
    probs = crossfit.fit_predict(features[:4], np.array([0, 0, 1, 1]), features[4:], 3, crossfit.CrossFitConfig(), 0)
    assert probs.shape == (1, 3) and probs[0, 2] == 0.0 and probs[0, 1] > probs[0, 0]
    single = crossfit.fit_predict(features[:2], np.array([2, 2]), features[2:], 3, crossfit.CrossFitConfig(), 0)
    np.testing.assert_array_equal(single, [[0, 0, 1]] * 3)


@pytest.mark.parametrize(
    ("fraction", "epochs", "epoch"),
    [(0.1, 10, 1), (0.2, 10, 2), (0.25, 10, 3), (0.1, 100, 10), (0.1, 3, 1), (0.0, 10, 0), (1.0, 4, 4), (0.5, 5, 3)],
)
def test_epoch_at_fraction(fraction, epochs, epoch):
    assert dynamics.epoch_at_fraction(fraction, epochs) == epoch


def test_threshold_sample_sets_are_disjoint_and_sized_n_over_c_plus_1():
    sets = dynamics.threshold_sample_sets(100, 4, seed=0)
    assert [s.size for s in sets] == [20, 20] and not set(sets[0]) & set(sets[1])
    assert [s.tolist() for s in sets] == [s.tolist() for s in dynamics.threshold_sample_sets(100, 4, seed=0)]


def test_aum_flags_below_the_99th_percentile_of_threshold_samples_in_every_run():
    # Run 0: threshold samples 0..3, cut at the 99th percentile of their AUM, ≈ −0.703; run 1: samples 4..7, cut
    # ≈ −0.203. Examples 0..7 have one reading each (the run where they kept their label), 8 and 9 two.
    run0 = np.array([-1.0, -0.9, -0.8, -0.7, -2.0, 0.5, -1.5, -0.71, 3.0, -0.8])
    run1 = np.array([-3.0, 0.0, -1.0, 2.0, -0.5, -0.4, -0.3, -0.2, -0.25, 4.0])
    flags = dynamics.aum_mislabeled([run0, run1], [np.arange(4), np.arange(4, 8)])
    # 8: below in run 1 only; 9: below in run 0 only; neither is flagged.
    assert flags.tolist() == [True, False, True, False, True, False, True, True, False, False]
    assert dynamics.aum_threshold(run0[:4]) == pytest.approx(-0.703)
