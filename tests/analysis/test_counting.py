"""The dense counting helpers agree with sorting-based numpy / pandas on random keys."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pv.analysis import counting


@pytest.mark.parametrize("limit", [counting.DENSE_LIMIT, 0])  # dense arrays, then sorting
def test_helpers_match_numpy_and_pandas(monkeypatch, limit) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(counting, "DENSE_LIMIT", limit)
    monkeypatch.setattr(counting, "DISTINCT_DENSE_LIMIT", limit and counting.DISTINCT_DENSE_LIMIT)
    rng = np.random.default_rng(7)
    size = 5_000
    keys = rng.integers(0, size, 20_000)
    assert np.array_equal(counting.distinct(keys, size), np.unique(keys))
    ids, inverse = counting.dense_codes(keys, size)
    ref_ids, ref_inverse = np.unique(keys, return_inverse=True)
    assert np.array_equal(ids, ref_ids) and np.array_equal(inverse, ref_inverse)
    for values in (rng.integers(-50, 20_000, len(keys)), rng.normal(size=len(keys))):
        for how in ("min", "max"):
            got_keys, got = counting.group_extreme(keys, values, size, how)
            ref = pd.Series(values).groupby(keys).agg(how)
            assert np.array_equal(got_keys, ref.index.to_numpy())
            assert np.array_equal(got, ref.to_numpy())
