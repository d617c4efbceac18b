"""Helpers that let every indicator take scalars, numpy arrays or pandas Series alike and give
back the same kind (a Series keeps the caller's index, as in pvlib)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def like(values, *inputs):
    """Wrap ``values`` as a Series if any input is one (its index), a float if 0-d."""
    for x in inputs:
        if isinstance(x, pd.Series):
            return pd.Series(np.asarray(values, dtype=float), index=x.index)
    arr = np.asarray(values, dtype=float)
    return float(arr) if arr.ndim == 0 else arr


def ratio(num, den):
    """num / den, NaN where den is not positive (an empty denominator has no share)."""
    n = np.asarray(num, dtype=float)
    d = np.asarray(den, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(d > 0, n / np.where(d > 0, d, 1.0), np.nan)
    return like(out, num, den)


def arr(x) -> np.ndarray:
    return np.asarray(x, dtype=float)
