"""IFD's arithmetic: the truncation rule and the columns from two summed NLLs, by hand."""

import numpy as np
import pytest

from thresher.ops.ifd import ifd_columns, truncate_pair


def test_truncate_pair():
    assert truncate_pair([1, 2, 3], [7, 8], 10) == ([1, 2, 3], [7, 8])
    assert truncate_pair([1, 2, 3, 4, 5], [7, 8], 6) == ([3, 4, 5], [7, 8])
    # The response fills all but two places: one prompt token (the last) stays.
    assert truncate_pair([1, 2, 3], [7, 8, 9, 10, 11], 5) == ([3], [7, 8, 9])
    with pytest.raises(ValueError, match="max_length"):
        truncate_pair([1], [2], 2)


def test_ifd_columns_by_hand():
    columns = ifd_columns(np.array([2.0, 6.0, 1.0]), np.array([4.0, 3.0, 1.0]), np.array([2, 3, 0]))
    np.testing.assert_allclose(columns["ifd_nll_conditioned"][:2], [1.0, 2.0])
    np.testing.assert_allclose(columns["ifd_nll_response"][:2], [2.0, 1.0])
    np.testing.assert_allclose(columns["ifd"][:2], [0.5, 2.0])
    np.testing.assert_allclose(columns["ifd_ppl"][:2], [np.exp(-1.0), np.exp(1.0)])
    assert columns["ifd_keep"].tolist() == [1.0, 0.0, 0.0] and np.isnan(columns["ifd"][2])
