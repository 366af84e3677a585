"""`softmax`, `pareto` and `band` against direct computations of what they should keep."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from thresher.errors import OptionError
from thresher.selection.base import Budget, StrategyInputs
from thresher.selection.builtin.band import Band
from thresher.selection.builtin.pareto import Pareto
from thresher.selection.builtin.softmax import Softmax
from thresher.selection.draws import gumbel_noise, lomax_noise, row_draws
from thresher.selection.run import run_strategy

SEEDS = range(6000)  # fixed: the chi-square statistics below are the same on every run


def test_softmax_picks_each_row_with_probability_proportional_to_exp_score_over_temperature():
    scores = np.array([0.0, 0.3, 0.5, 1.0, 1.2, -0.4])
    temperature = 0.5
    strategy = Softmax(temperature=temperature)
    inputs = StrategyInputs(n_rows=scores.size, importance=scores)
    picked = [int(run_strategy(strategy, inputs, Budget(count=1), seed)[0]) for seed in SEEDS]
    observed = np.bincount(picked, minlength=scores.size)
    weights = np.exp(scores / temperature)
    expected = weights / weights.sum() * len(SEEDS)
    assert stats.chisquare(observed, expected).pvalue > 0.01
    # The test has power: the same draws are far from uniform and from exp(score) (τ = 1).
    assert stats.chisquare(observed, np.full(scores.size, len(SEEDS) / scores.size)).pvalue < 1e-12
    flatter = np.exp(scores) / np.exp(scores).sum() * len(SEEDS)
    assert stats.chisquare(observed, flatter).pvalue < 1e-6


def test_softmax_is_a_sample_without_replacement_whose_prefixes_nest():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=200)
    strategy = Softmax(temperature=0.3)
    inputs = StrategyInputs(n_rows=200, importance=scores)
    small, large = (run_strategy(strategy, inputs, Budget(count=k), 11) for k in (20, 80))
    assert small.size == 20 and large.size == 80 and set(small) <= set(large)
    # The rows kept are the k largest score/τ + Gumbel noise of the rows' seeded draws, computed here directly.
    uniform = np.maximum(row_draws(11, np.arange(200)), 2.0**-54)
    keys = scores / 0.3 - np.log(-np.log(uniform))
    assert large.tolist() == sorted(np.argsort(-keys)[:80].tolist())
    # A very low temperature is `top`; a very high one is the seeded draw itself, as `random` uses it.
    cold = run_strategy(Softmax(temperature=1e-9), inputs, Budget(count=30), 5)
    assert cold.tolist() == sorted(np.argsort(-scores)[:30].tolist())


def test_gumbel_noise_is_standard_gumbel():
    noise = gumbel_noise(3, np.arange(20000))
    assert np.isfinite(noise).all()
    assert stats.kstest(noise, stats.gumbel_r.cdf).pvalue > 0.01


def test_lomax_noise_has_the_distribution_of_numpy_pareto():
    alpha = 3.0
    draws = lomax_noise(1, np.arange(20000), alpha)
    assert np.isfinite(draws).all() and draws.min() >= 0
    assert stats.kstest(draws, stats.lomax(c=alpha).cdf).pvalue > 0.01
    numpy_pareto = np.random.default_rng(9).pareto(alpha, size=20000)
    assert stats.ks_2samp(draws, numpy_pareto).pvalue > 0.01


def test_pareto_keeps_rows_where_score_exceeds_one_minus_the_draw():
    rng = np.random.default_rng(2)
    scores = rng.uniform(size=3000)
    alpha = 3.0
    kept = run_strategy(Pareto(alpha=alpha), StrategyInputs(n_rows=3000, importance=scores), None, 4)
    # The draw of row i, computed from its uniform by the inverse of the Lomax CDF 1 - (1 + x)^-alpha.
    uniform = row_draws(4, np.arange(3000))
    draws = (1.0 - uniform) ** (-1.0 / alpha) - 1.0
    assert kept.tolist() == np.flatnonzero(draws > 1.0 - scores).tolist()
    # NeMo's rule keeps a row of score s with probability (2 - s)^-alpha: about 0.29 here, in expectation.
    expected = np.mean((2.0 - scores) ** -alpha)
    assert abs(kept.size / 3000 - expected) < 4 * np.sqrt(expected * (1 - expected) / 3000)


def test_pareto_keep_is_an_upper_bound_taking_the_largest_margins():
    rng = np.random.default_rng(5)
    scores = rng.uniform(size=500)
    inputs = StrategyInputs(n_rows=500, importance=scores)
    every = run_strategy(Pareto(), inputs, None, 1)
    assert run_strategy(Pareto(), inputs, Budget(count=490), 1).tolist() == every.tolist()  # fewer pass the rule
    few = run_strategy(Pareto(), inputs, Budget(count=10), 1)
    margins = scores + lomax_noise(1, np.arange(500), 3.0)
    assert few.tolist() == sorted(every[np.argsort(-margins[every])[:10]].tolist())


def direct_band(values: np.ndarray, first: int, stop: int) -> list[int]:
    """The rows whose ordinal rank (1-based, ties to the lower row) lies in (first, stop]."""
    ranks = stats.rankdata(values, method="ordinal")
    return np.flatnonzero((ranks > first) & (ranks <= stop)).tolist()


def test_band_keeps_the_rows_between_two_quantiles():
    rng = np.random.default_rng(8)
    values = rng.normal(size=1000)
    kept = run_strategy(Band(low=0.25, high=0.75), StrategyInputs(n_rows=1000, values=values), None, 0)
    # Distinct values: the band is the values from the 250th to the 750th smallest.
    ordered = np.sort(values)
    assert kept.tolist() == np.flatnonzero((values >= ordered[250]) & (values <= ordered[749])).tolist()
    assert kept.tolist() == direct_band(values, 250, 750)
    # Ties are ranked by row, as every other strategy breaks them.
    tied = np.round(values, 0)
    kept = run_strategy(Band(low=0.1, high=0.5), StrategyInputs(n_rows=1000, values=tied), None, 0)
    assert kept.tolist() == direct_band(tied, 100, 500)


def test_band_with_a_budget_is_centred_on_the_middle_quantile():
    values = np.arange(100.0)[::-1]
    inputs = StrategyInputs(n_rows=100, values=values)
    centred = run_strategy(Band(low=0.2, high=0.6), inputs, Budget(count=10), 0)
    assert sorted(values[centred].tolist()) == list(range(35, 45))  # around the 40 % quantile
    edge = run_strategy(Band(low=0.9, high=1.0), inputs, Budget(count=30), 0)
    assert sorted(values[edge].tolist()) == list(range(70, 100))  # moved inside the rows


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        (Softmax(temperature=0.0), "temperature must be > 0"),
        (Pareto(alpha=-1.0), "alpha must be > 0"),
        (Band(low=0.6, high=0.4), "need 0 <= low < high <= 1"),
    ],
)
def test_out_of_range_parameters_are_refused(strategy, message):
    inputs = StrategyInputs(n_rows=3, importance=np.zeros(3), values=np.zeros(3))
    with pytest.raises(OptionError, match=message):
        run_strategy(strategy, inputs, Budget(count=1), 0)
    with pytest.raises(OptionError, match=message):
        strategy.streamed(Budget(count=1))
