"""Input checking, subsampling and the shared array views every group reads.

:func:`prepare` turns ``(X, y)`` into a :class:`Prepared` object: the numeric columns as
one float matrix, the categorical columns as dense integer codes, the target as class
codes or floats, all on a fixed-seed subsample of at most ``max_rows`` rows. Views that
several groups need (sorted columns, quantiles, the discretised table, an imputed design
matrix) are computed lazily, once.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from automl_meta.data import infer_task
from automl_meta.exceptions import DataValidationError
from automl_meta.metafeatures._base import TASKS

#: Comparisons materialised at once when discretising (rows x columns x cut points).
_CHUNK_ELEMENTS = 4_000_000


def check_inputs(X: Any, y: Any, task: str | None) -> tuple[pd.DataFrame, pd.Series, str]:
    """Validate ``X``, ``y`` and ``task``; return a DataFrame, a Series and the task."""
    if isinstance(X, np.ndarray):
        if X.ndim != 2:
            raise DataValidationError(
                f"X must be 2-dimensional (n_samples, n_features), got shape {X.shape}"
            )
        X = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    elif not isinstance(X, pd.DataFrame):
        try:
            X = pd.DataFrame(X)
        except Exception as exc:  # noqa: BLE001 - pandas raises several types here
            raise DataValidationError(
                f"X cannot be converted to a DataFrame ({type(X).__name__}): {exc}"
            ) from exc
    if X.shape[0] == 0:
        raise DataValidationError("X is empty: it has no rows")
    if X.shape[1] == 0:
        raise DataValidationError("X is empty: it has no feature columns")
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise DataValidationError(f"y must be a single column, got {y.shape[1]} columns")
        y = y.iloc[:, 0]
    if not isinstance(y, pd.Series):
        values = np.asarray(y)
        if values.ndim != 1:
            raise DataValidationError(f"y must be one-dimensional, got shape {values.shape}")
        y = pd.Series(values)
    if len(y) != len(X):
        raise DataValidationError(f"X has {len(X)} rows but y has {len(y)} values")
    n_missing = int(y.isna().sum())
    if n_missing:
        raise DataValidationError(f"y has {n_missing} missing values; drop those rows first")
    y = y.reset_index(drop=True)
    if task is None:
        task = infer_task(y)
    if task not in TASKS:
        raise DataValidationError(f"task must be one of {TASKS} or None, got {task!r}")
    if task == "regression":
        try:
            y = pd.to_numeric(y, errors="raise").astype("float64")
        except (TypeError, ValueError) as exc:
            raise DataValidationError(f"a regression target must be numeric: {exc}") from exc
        if not np.isfinite(y.to_numpy()).all():
            raise DataValidationError("y contains infinite values")
    return X, y, task


def sample_rows(
    n: int, max_rows: int, rng: np.random.Generator, codes: np.ndarray | None
) -> np.ndarray:
    """Sorted positions of a subsample of about ``max_rows`` of ``n`` rows.

    With class ``codes`` the subsample is stratified and every class keeps
    ``min(2, its size)`` rows, so a rare class can add a few rows over the cap.
    """
    if codes is None:
        return np.sort(rng.choice(n, size=max_rows, replace=False))
    # A random permutation, then a stable sort by class: rows grouped by class in random
    # order, so "the first `take` rows of each class" is a uniform draw within the class.
    perm = rng.permutation(n)
    order = perm[np.argsort(codes[perm], kind="stable")]
    counts = np.bincount(codes)
    take = np.maximum(np.minimum(counts, 2), np.round(counts * (max_rows / n)).astype(int))
    starts = np.cumsum(counts) - counts
    rank = np.arange(n) - np.repeat(starts, counts)
    return np.sort(order[rank < np.repeat(take, counts)])


def _is_numeric(dtype: Any) -> bool:
    if isinstance(dtype, pd.CategoricalDtype):
        return False
    return pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype)


def _dense_codes(col: pd.Series) -> np.ndarray:
    """Codes ``0..L-1`` of the observed values of a column, ``-1`` for missing."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        raw = col.cat.codes.to_numpy().astype(np.int64)
        codes = np.full(raw.shape, -1, dtype=np.int64)
        present = raw >= 0
        # Declared but unused categories must not count as levels.
        codes[present] = np.unique(raw[present], return_inverse=True)[1]
        return codes
    try:
        codes, _ = pd.factorize(col)
    except TypeError:  # unhashable objects (lists, dicts): compare them as text
        codes, _ = pd.factorize(col.astype(str).where(col.notna()))
    return codes.astype(np.int64)


def purpose_rng(seed: int, purpose: str) -> np.random.Generator:
    """A generator seeded by ``(seed, purpose)``: draws for one purpose do not depend on
    which other draws were made before."""
    return np.random.default_rng([seed, zlib.crc32(purpose.encode())])


def n_bins(n: int) -> int:
    """Equal-frequency bins used to discretise ``n`` values: the cube root, at least 2."""
    return max(2, int(np.cbrt(n) + 1e-9))


@dataclass(eq=False)
class Prepared:
    """One dataset as arrays, on the subsample; full-data facts kept separately.

    Attributes
    ----------
    task : ``"classification"`` or ``"regression"``.
    n_rows : rows of the full data.
    num : (m, p_num) float matrix of the numeric columns, NaN where missing or infinite.
    cat : (m, p_cat) int codes of the categorical columns, ``-1`` where missing.
    cat_levels : (p_cat,) number of distinct observed values per categorical column.
    y : (m,) class codes ``0..k-1`` or float target.
    class_counts : (k,) class sizes on the full data (classification) or None.
    seed : the extractor's random_state.
    """

    task: str
    n_rows: int
    num: np.ndarray
    cat: np.ndarray
    cat_levels: np.ndarray
    y: np.ndarray
    class_counts: np.ndarray | None
    seed: int
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def n_sample(self) -> int:
        return len(self.y)

    @property
    def n_columns(self) -> int:
        return self.num.shape[1] + self.cat.shape[1]

    @property
    def n_classes(self) -> int:
        return 0 if self.class_counts is None else len(self.class_counts)

    def rng(self, purpose: str) -> np.random.Generator:
        """A generator for ``purpose``: the same whichever groups run."""
        return purpose_rng(self.seed, purpose)

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """Compute a value shared by several steps once."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    # --- numeric columns -------------------------------------------------------------

    @cached_property
    def num_count(self) -> np.ndarray:
        """Non-missing values per numeric column."""
        return np.count_nonzero(~np.isnan(self.num), axis=0)

    @cached_property
    def num_sorted(self) -> np.ndarray:
        """Each numeric column sorted, NaN last."""
        return np.sort(self.num, axis=0)

    @cached_property
    def num_distinct(self) -> np.ndarray:
        """Distinct non-missing values per numeric column."""
        s = self.num_sorted
        valid = np.arange(1, len(s))[:, None] < self.num_count[None, :]
        changes = np.count_nonzero((s[1:] != s[:-1]) & valid, axis=0)
        return (self.num_count > 0) + changes

    def quantiles(self, qs: np.ndarray) -> np.ndarray:
        """(len(qs), p_num) quantiles of each column's non-missing values, linear
        interpolation as in ``numpy.quantile``; NaN for an all-missing column."""
        last = np.maximum(self.num_count - 1, 0)
        pos = np.asarray(qs, dtype=float)[:, None] * last[None, :]
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, last[None, :])
        a = np.take_along_axis(self.num_sorted, lo, axis=0)
        b = np.take_along_axis(self.num_sorted, hi, axis=0)
        return a + (b - a) * (pos - lo)

    @cached_property
    def num_imputed(self) -> np.ndarray:
        """Numeric matrix with NaN replaced by the column median (0 for empty columns)."""
        median = np.nan_to_num(self.quantiles(np.array([0.5]))[0])
        return np.where(np.isnan(self.num), median[None, :], self.num)

    @cached_property
    def num_varying(self) -> np.ndarray:
        """Mask of numeric columns with at least two distinct values."""
        return self.num_distinct >= 2

    # --- every column ----------------------------------------------------------------

    @cached_property
    def design(self) -> np.ndarray:
        """(m, p) float matrix for models: imputed numeric columns, then categorical
        codes as ordinals with missing as ``-1``."""
        return np.hstack([self.num_imputed, self.cat.astype(float)])

    @cached_property
    def binned(self) -> tuple[np.ndarray, np.ndarray]:
        """Every column discretised: ``(codes (m, p), levels (p,))``.

        Numeric columns get equal-frequency bins (:func:`n_bins` of them; tied cut points
        leave bins empty), categorical columns their codes; missing values are one extra
        level of each column.
        """
        m = self.n_sample
        b = n_bins(m)
        cuts = self.quantiles(np.arange(1, b) / b)
        num_codes = np.empty(self.num.shape, dtype=np.int64)
        step = max(1, _CHUNK_ELEMENTS // max(1, m * (b - 1)))
        for start in range(0, self.num.shape[1], step):
            block = self.num[:, start : start + step]
            # Bin index = number of cut points strictly below the value (np.digitize with
            # right=True); NaN compares False everywhere and is moved to level b below.
            below = block[:, :, None] > cuts[:, start : start + step].T[None]
            num_codes[:, start : start + step] = below.sum(axis=2)
        num_codes[np.isnan(self.num)] = b
        cat_codes = np.where(self.cat < 0, self.cat_levels[None, :], self.cat)
        codes = np.hstack([num_codes, cat_codes])
        levels = np.concatenate(
            [np.full(self.num.shape[1], b + 1, dtype=np.int64), self.cat_levels + 1]
        )
        return codes, levels

    @cached_property
    def target_binned(self) -> tuple[np.ndarray, int]:
        """Target as codes with their number of levels: the classes, or the regression
        target in :func:`n_bins` equal-frequency bins."""
        if self.task == "classification":
            return self.y, self.n_classes
        b = n_bins(self.n_sample)
        cuts = np.quantile(self.y, np.arange(1, b) / b)
        return np.searchsorted(cuts, self.y, side="left"), b


def prepare(X: Any, y: Any, task: str | None, max_rows: int, seed: int) -> Prepared:
    """Check the inputs and build the :class:`Prepared` view of a (subsampled) dataset."""
    X, y, task = check_inputs(X, y, task)
    n = len(X)
    if task == "classification":
        try:
            codes, _ = pd.factorize(y)
        except TypeError:  # unhashable labels: compare them as text
            codes, _ = pd.factorize(y.astype(str))
        class_counts = np.bincount(codes)
        target = codes.astype(np.int64)
    else:
        class_counts = None
        target = y.to_numpy(dtype=float)
    if n > max_rows:
        rows = sample_rows(n, max_rows, purpose_rng(seed, "rows"),
                           target if class_counts is not None else None)
        X = X.iloc[rows]
        target = target[rows]
    kinds = [_is_numeric(dtype) for dtype in X.dtypes]
    num_pos = [j for j, is_num in enumerate(kinds) if is_num]
    cat_pos = [j for j, is_num in enumerate(kinds) if not is_num]
    num = X.iloc[:, num_pos].to_numpy(dtype=float, na_value=np.nan)
    infinite = np.isinf(num)
    if infinite.any():  # treated as missing; np.where copies, so X is never modified
        num = np.where(infinite, np.nan, num)
    cat = np.empty((len(X), len(cat_pos)), dtype=np.int64)
    for k, j in enumerate(cat_pos):
        cat[:, k] = _dense_codes(X.iloc[:, j])
    cat_levels = cat.max(axis=0, initial=-1) + 1
    return Prepared(
        task=task,
        n_rows=n,
        num=num,
        cat=cat,
        cat_levels=cat_levels.astype(np.int64),
        y=target,
        class_counts=class_counts,
        seed=seed,
    )
