"""The feature registry and :class:`MetaFeatureExtractor`."""

from __future__ import annotations

import numbers
import time
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from automl_meta.exceptions import DataValidationError
from automl_meta.metafeatures import _general, _info, _landmarking, _model, _statistical
from automl_meta.metafeatures._base import TASKS, Step, undefined
from automl_meta.metafeatures._prepare import Prepared, prepare

_MODULES = {
    "general": _general,
    "statistical": _statistical,
    "info_theory": _info,
    "landmarking": _landmarking,
    "model_based": _model,
}

#: The feature groups, in extraction order.
GROUPS: tuple[str, ...] = tuple(_MODULES)

_STEPS: dict[str, tuple[Step, ...]] = {g: m.STEPS for g, m in _MODULES.items()}


def _names(groups: tuple[str, ...], task: str) -> list[str]:
    return [n for g in groups for step in _STEPS[g] for n in step.names.get(task, ())]


def _ordered_descriptions() -> dict[str, str]:
    merged = {k: v for m in _MODULES.values() for k, v in m.DESCRIPTIONS.items()}
    order = dict.fromkeys(_names(GROUPS, "classification") + _names(GROUPS, "regression"))
    return {name: merged[name] for name in order}


#: Every feature name (of either task) -> a one-line description of what it measures.
FEATURE_DESCRIPTIONS: dict[str, str] = _ordered_descriptions()

#: Count-like or heavy-tailed features, which the normalizer puts on a signed log scale.
LOG_SCALED_FEATURES: frozenset[str] = frozenset().union(
    *(m.LOG_SCALED for m in _MODULES.values())
)


def describe_features() -> pd.DataFrame:
    """One row per feature: name, group, tasks, log scaling and description.

    Returns
    -------
    pandas.DataFrame
        Columns ``name``, ``group``, ``tasks``, ``log_scaled``, ``description``, in the
        extraction order (classification features first, then regression-only ones).
    """
    group_of = {n: g for g in GROUPS for t in TASKS for n in _names((g,), t)}
    names_of = {t: set(_names(GROUPS, t)) for t in TASKS}
    rows = [
        {
            "name": name,
            "group": group_of[name],
            "tasks": ", ".join(t for t in TASKS if name in names_of[t]),
            "log_scaled": name in LOG_SCALED_FEATURES,
            "description": description,
        }
        for name, description in FEATURE_DESCRIPTIONS.items()
    ]
    return pd.DataFrame(rows)


class MetaFeatureExtractor:
    """Compute a fixed-length vector of meta-features describing a tabular dataset.

    The vector has the same names, in the same order, for every dataset of a task type
    (see :meth:`feature_names`). A feature that cannot be computed on a dataset is NaN,
    and :attr:`last_nan_reasons_` says why; extraction itself never fails on valid input.

    Parameters
    ----------
    groups : sequence of str, default all of :data:`GROUPS`
        Feature groups to compute: ``"general"``, ``"statistical"``, ``"info_theory"``,
        ``"landmarking"``, ``"model_based"``.
    time_budget : float, mapping of group to float, or None, default None
        Seconds allowed per group (a mapping sets groups one by one; a group it omits is
        unlimited). Checked between computation steps: once a group has used its budget,
        its remaining steps are skipped and their features are NaN. A running step is not
        interrupted, so a group can overrun by one step.
    max_rows : int, default 10000
        Rows kept for everything but row and class counts: larger data is subsampled with
        the fixed seed (stratified for classification; every class keeps up to 2 rows).
    random_state : int, default 0
        Seed of every random choice (subsamples, folds, column draws). Extraction is
        deterministic for a given seed.

    Attributes
    ----------
    last_nan_reasons_ : dict of str to str
        After :meth:`extract`: feature name -> why it is NaN, for every NaN feature.
    last_timings_ : dict of str to float
        After :meth:`extract`: seconds spent in input preparation (``"prepare"``) and in
        each group.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> X = pd.DataFrame({"a": np.arange(20.0), "b": pd.Categorical(list("xy") * 10)})
    >>> mf = MetaFeatureExtractor().extract(X, np.repeat([0, 1], 10))
    >>> float(mf["class_entropy"])
    1.0
    """

    def __init__(
        self,
        groups: tuple[str, ...] | list[str] = GROUPS,
        time_budget: float | Mapping[str, float] | None = None,
        max_rows: int = 10_000,
        random_state: int = 0,
    ) -> None:
        unknown = [g for g in groups if g not in GROUPS]
        if unknown or not groups:
            raise DataValidationError(
                f"groups must be a non-empty subset of {GROUPS}, got {groups!r}")
        if isinstance(time_budget, Mapping):
            bad = [g for g in time_budget if g not in GROUPS]
            if bad:
                raise DataValidationError(
                    f"time_budget names unknown groups {bad}; use {GROUPS}")
        elif time_budget is not None and not (isinstance(time_budget, numbers.Real)
                                               and time_budget >= 0):
            raise DataValidationError(f"time_budget must be >= 0 seconds, got {time_budget!r}")
        if not (isinstance(max_rows, numbers.Real) and max_rows >= 10):
            raise DataValidationError(f"max_rows must be at least 10, got {max_rows!r}")
        if not isinstance(random_state, numbers.Integral):
            raise DataValidationError(f"random_state must be an integer, got {random_state!r}")
        # Keep the documented order whatever order the caller listed the groups in.
        self.groups = tuple(g for g in GROUPS if g in groups)
        self.time_budget = time_budget
        self.max_rows = int(max_rows)
        self.random_state = int(random_state)
        self.last_nan_reasons_: dict[str, str] = {}
        self.last_timings_: dict[str, float] = {}

    def feature_names(self, task: str) -> list[str]:
        """Names of the features :meth:`extract` returns for ``task``, in order.

        Parameters
        ----------
        task : {"classification", "regression"}

        Returns
        -------
        list of str
        """
        if task not in TASKS:
            raise DataValidationError(f"task must be one of {TASKS}, got {task!r}")
        return _names(self.groups, task)

    def extract(self, X: Any, y: Any, task: str | None = None) -> pd.Series:
        """Compute the meta-features of one dataset.

        Parameters
        ----------
        X : pandas.DataFrame or array-like of shape (n_samples, n_features)
            Float, integer or bool columns are numeric; category, string and object
            columns are categorical. NaN marks a missing value (infinities count as
            missing). Arrays are converted to a DataFrame.
        y : array-like of shape (n_samples,)
            Class labels of any type, or a numeric regression target. No missing values.
        task : {"classification", "regression"} or None
            Inferred when None: numeric targets with at most 20 distinct whole values
            and non-numeric targets are classification
            (:func:`automl_meta.data.infer_task`).

        Returns
        -------
        pandas.Series
            Float values indexed by :meth:`feature_names` of the task.

        Raises
        ------
        automl_meta.exceptions.DataValidationError
            (a ``ValueError``) for empty ``X``, ``X`` and ``y`` of different lengths,
            an ``X`` that is not a table, a ``y`` with missing values or an unknown task.
        """
        started = time.perf_counter()
        # The matrices here are small: waking a BLAS thread pool costs more than it saves,
        # and far more on a busy machine, so BLAS runs single-threaded.
        with warnings.catch_warnings(), np.errstate(all="ignore"), threadpool_limits(
            limits=1, user_api="blas"
        ):
            # Meta-features run on arbitrary user data: degenerate columns are expected
            # and handled, so numpy's and scikit-learn's warnings would only be noise.
            warnings.simplefilter("ignore")
            d = prepare(X, y, task, self.max_rows, self.random_state)
            timings = {"prepare": time.perf_counter() - started}
            values: dict[str, float] = {}
            reasons: dict[str, str] = {}
            for group in self.groups:
                group_start = time.perf_counter()
                budget = self._budget(group)
                for step in _STEPS[group]:
                    names = step.names.get(d.task, ())
                    if not names:
                        continue
                    if budget is not None and time.perf_counter() - group_start >= budget:
                        result = undefined(
                            names, f"time budget of {budget:g} s for group {group!r} used up"
                        )
                    else:
                        result = _run_step(step, d, names)
                    for name in names:
                        values[name], reason = _as_float(result.get(name, "not computed"))
                        if reason is not None:
                            reasons[name] = reason
                timings[group] = time.perf_counter() - group_start
        names = self.feature_names(d.task)
        self.last_nan_reasons_ = {n: reasons[n] for n in names if n in reasons}
        self.last_timings_ = timings
        return pd.Series([values[n] for n in names], index=names, dtype=float,
                         name="metafeatures")

    def _budget(self, group: str) -> float | None:
        if isinstance(self.time_budget, Mapping):
            return self.time_budget.get(group)
        return self.time_budget

    def __repr__(self) -> str:
        return (
            f"MetaFeatureExtractor(groups={self.groups!r}, time_budget={self.time_budget!r},"
            f" max_rows={self.max_rows}, random_state={self.random_state})"
        )


def _run_step(step: Step, d: Prepared, names: tuple[str, ...]) -> Mapping[str, Any]:
    try:
        return step.func(d)
    except Exception as exc:  # noqa: BLE001 - one failing step must not stop extraction
        return undefined(names, f"{step.func.__name__} failed: {type(exc).__name__}: {exc}")


def _as_float(value: Any) -> tuple[float, str | None]:
    """A step's value as a float and, for NaN, the reason."""
    if isinstance(value, str):
        return float("nan"), value
    value = float(value)
    if not np.isfinite(value):
        return float("nan"), "the computation gave a non-finite value"
    return value, None

