from __future__ import annotations

import hashlib

from thresher.data.ids import ContentIdAssigner, content_digest, content_id


def test_content_id_is_blake2b_prefix_and_occurrence():
    expected = hashlib.blake2b(b"hello").hexdigest()[:16]
    assert content_digest("hello") == expected
    assert content_id("hello", 0) == f"{expected}-0"
    assert content_id("hello", 3) == f"{expected}-3"


def test_content_id_hashes_utf8_bytes():
    assert content_digest("café ☕") == hashlib.blake2b("café ☕".encode()).hexdigest()[:16]
    assert content_digest("cafe") != content_digest("café")


def test_assigner_counts_repeats_of_each_text():
    ids = ContentIdAssigner().assign_many(["a", "b", "a", "a", "b"])
    assert ids == [content_id("a", 0), content_id("b", 0), content_id("a", 1), content_id("a", 2), content_id("b", 1)]
    assert len(set(ids)) == 5


def test_assigners_agree_across_runs():
    texts = ["x", "y", "x", "z"]
    assert ContentIdAssigner().assign_many(texts) == ContentIdAssigner().assign_many(texts)


def test_assign_one_at_a_time_matches_assign_many():
    assigner = ContentIdAssigner()
    one_by_one = [assigner.assign(text) for text in ["p", "p", "q"]]
    assert one_by_one == ContentIdAssigner().assign_many(["p", "p", "q"])


def test_digest_counter_counts_across_and_within_batches_like_a_dict():
    import numpy as np

    from thresher.data.ids import DigestCounter

    rng = np.random.default_rng(0)
    counter, reference = DigestCounter(), {}
    for _ in range(40):
        batch = rng.integers(0, 300, size=int(rng.integers(1, 60))).astype(np.uint64) * np.uint64(2**40 + 7)
        expected = []
        for digest in batch.tolist():
            expected.append(reference.get(digest, 0))
            reference[digest] = expected[-1] + 1
        assert counter.occurrences(batch).tolist() == expected
