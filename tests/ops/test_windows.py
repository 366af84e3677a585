from __future__ import annotations

import pytest

from thresher.ops.windows import Window, sliding_windows


@pytest.mark.parametrize("n_tokens", [2, 3, 7, 8, 9, 16, 17, 50, 101])
@pytest.mark.parametrize(("max_length", "stride"), [(2, 1), (4, 1), (4, 2), (4, 3), (8, None), (8, 5), (16, 7)])
def test_every_target_is_scored_exactly_once_with_bounded_context(n_tokens, max_length, stride):
    windows = sliding_windows(n_tokens, max_length, stride)
    effective_stride = max_length // 2 if stride is None else stride

    scored = []
    for window in windows:
        length = window.end - window.start
        assert 2 <= length <= max_length
        assert 1 <= window.n_scored <= length - 1  # the window's first token is never a target
        first_target = window.end - window.n_scored
        for position in range(first_target, window.end):
            context = position - window.start
            assert context >= min(position, max_length - effective_stride)
        scored.extend(range(first_target, window.end))

    assert sorted(scored) == list(range(1, n_tokens))
    assert len(scored) == len(set(scored))


def test_short_sequence_is_one_full_window():
    assert sliding_windows(5, 8) == [Window(0, 5, 4)]


def test_known_plan_last_window_is_right_aligned():
    # max_length 4, stride 2, 9 tokens: targets 1-3, then 4-5, 6-7, 8 (with a full 4-token window).
    assert sliding_windows(9, 4, 2) == [Window(0, 4, 3), Window(2, 6, 2), Window(4, 8, 2), Window(5, 9, 1)]


def test_nothing_to_predict():
    assert sliding_windows(0, 8) == []
    assert sliding_windows(1, 8) == []


@pytest.mark.parametrize(("max_length", "stride"), [(1, None), (4, 4), (4, 0), (4, 5)])
def test_bad_options(max_length, stride):
    with pytest.raises(ValueError):
        sliding_windows(10, max_length, stride)
