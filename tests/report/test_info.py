import numpy as np

from thresher.report.info import column_summary, sparkline


def test_sparkline_shows_where_the_mass_is():
    values = np.concatenate([np.zeros(90), np.ones(10)])
    line = sparkline(values, bins=4)
    assert line == "█  ▁"


def test_column_summary_ignores_missing_values():
    summary = column_summary(np.array([1.0, np.nan, 3.0, 2.0]))
    assert summary == {"count": 4, "missing": 1, "min": 1.0, "median": 2.0, "max": 3.0, "mean": 2.0}
    assert sparkline(np.array([np.nan])) == ""
