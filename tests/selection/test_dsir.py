import numpy as np

from thresher.selection.dsir import (
    NgramHasher,
    bucket_distribution,
    gumbel_top_k,
    log_importance_weights,
    log_ratio,
)

CODE = [
    "def parse(self, line): return line.strip().split(',')",
    "for index in range(len(items)): total += items[index]",
    "import numpy as np\nx = np.zeros((3, 4)); print(x.shape)",
    "class Reader: def __init__(self, path): self.path = path",
    "if value is None: raise ValueError('missing value')",
]
PROSE = [
    "The committee met on Tuesday to discuss the budget for next year.",
    "She walked along the river, watching the boats drift slowly past.",
    "Rain fell all afternoon, and the market closed early for the holiday.",
    "Historians still debate the causes of the long war between the cities.",
    "The recipe calls for two cups of flour, sugar and a pinch of salt.",
]


def test_hashing_is_stable_and_counts_unigrams_and_bigrams():
    hasher = NgramHasher(buckets=1000)
    features = hasher.features("The cat, the cat!")
    # tokens: the cat , the cat ! -> 6 unigrams + 5 bigrams
    assert features.shape == (11,) and features.min() >= 0 and features.max() < 1000
    np.testing.assert_array_equal(features, NgramHasher(buckets=1000).features("the CAT, the cat!"))
    assert hasher.features("").size == 0
    assert hasher.counts(["a b", "a"]).sum() == 4


def test_weights_and_gumbel_sampling_prefer_target_like_examples():
    rng = np.random.default_rng(0)
    pool = [CODE[i % 5] + f" # {i}" if i % 10 == 0 else PROSE[i % 5] + f" ({i})" for i in range(200)]
    is_code = np.array([i % 10 == 0 for i in range(200)])  # 10% of the pool looks like code
    target = [text.replace("value", "item") for text in CODE]
    hasher = NgramHasher()
    p_target = bucket_distribution(hasher.counts(target))
    p_raw = bucket_distribution(hasher.counts(pool))
    weights = log_importance_weights(pool, hasher, log_ratio(p_target, p_raw))
    assert weights[is_code].min() > weights[~is_code].max()
    chosen = gumbel_top_k(weights, 20, rng)
    assert len(set(chosen.tolist())) == 20
    assert is_code[chosen].mean() > 0.9  # vs 0.1 for a random sample
    np.testing.assert_array_equal(chosen, gumbel_top_k(weights, 20, np.random.default_rng(0)))


def test_gumbel_top_k_follows_the_weights():
    rng = np.random.default_rng(1)
    log_weights = np.log(np.array([1.0, 1.0, 8.0]))
    firsts = np.bincount([gumbel_top_k(log_weights, 1, rng)[0] for _ in range(4000)], minlength=3) / 4000
    np.testing.assert_allclose(firsts, [0.1, 0.1, 0.8], atol=0.03)


def test_laplace_smoothing_and_empty_counts():
    assert bucket_distribution(np.zeros(4)).tolist() == [0.25] * 4
    np.testing.assert_allclose(bucket_distribution(np.array([2.0, 0.0]), laplace=1.0), [0.75, 0.25])
