"""Shared vocabulary of the meta-feature groups: steps, values and summaries.

A group is an ordered tuple of :class:`Step` objects. A step computes a few related
features in one pass and returns a mapping ``name -> value`` where a value is a float,
or a string that stands for NaN and says why the feature is undefined on this dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from automl_meta.metafeatures._prepare import Prepared

TASKS = ("classification", "regression")

#: A feature value: a float, or a string giving the reason the feature is NaN.
Value = float | str

Features = dict[str, Value]


@dataclass(frozen=True)
class Step:
    """One unit of computation producing a fixed list of features per task.

    ``names`` maps a task to the features the step returns for it; a task that is
    absent does not run the step.
    """

    func: Callable[[Prepared], Mapping[str, Value]]
    names: Mapping[str, tuple[str, ...]]


def both(*names: str) -> dict[str, tuple[str, ...]]:
    """Feature names shared by classification and regression."""
    return {task: names for task in TASKS}


def undefined(names: tuple[str, ...] | list[str], reason: str) -> Features:
    """The same NaN reason for every name."""
    return dict.fromkeys(names, reason)


STATS = ("mean", "sd", "min", "max")


def summarize(
    values: np.ndarray, prefix: str, empty: str, stats: tuple[str, ...] = STATS
) -> Features:
    """Summaries ``{prefix}_{stat}`` of the finite entries of ``values``.

    ``sd`` is the population standard deviation (0 for a single value); ``empty`` is
    the NaN reason used when no entry is finite.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return undefined([f"{prefix}_{s}" for s in stats], empty)
    funcs = {"mean": np.mean, "sd": np.std, "min": np.min, "max": np.max}
    return {f"{prefix}_{s}": float(funcs[s](values)) for s in stats}


def ratio(num: float, den: float, reason: str) -> Value:
    """``num / den``, or ``reason`` when the denominator is zero or not finite."""
    if den == 0 or not np.isfinite(den):
        return reason
    return float(num / den)
