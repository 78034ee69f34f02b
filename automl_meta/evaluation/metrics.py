"""Metrics: one abstraction that knows each metric's direction and what it needs.

Scores are stored as the metric's natural value (an RMSE stays an RMSE);
:meth:`Metric.loss` turns any of them into "lower is better" in this one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm

from automl_meta.exceptions import UnknownMetricError


@dataclass(frozen=True)
class Metric:
    """A scoring rule for one task type.

    ``needs_proba`` metrics receive a (n_samples, n_classes) probability matrix whose
    columns follow ``labels``; the others receive predictions. ``sample_weight`` weighs
    the rows (scikit-learn's meaning).
    """

    name: str
    task: str
    greater_is_better: bool
    needs_proba: bool
    func: Callable[..., float]

    def __call__(self, y_true, y_pred, labels=None, sample_weight=None) -> float:
        return float(self.func(y_true, y_pred, labels, sample_weight))

    def loss(self, value):
        """The value turned into a quantity to minimise (works on arrays too)."""
        return -np.asarray(value, dtype=float) if self.greater_is_better else np.asarray(
            value, dtype=float)


def _roc_auc(y_true, proba, labels, sample_weight=None) -> float:
    """Binary AUC, or the macro one-vs-rest AUC over the classes present in ``y_true``.

    A fold of a many-class dataset often lacks some classes; averaging over the present
    ones keeps the score defined there (sklearn's multiclass AUC needs every class).
    With weights, a class is present where its rows weigh something.
    """
    y_true = np.asarray(y_true)
    if len(labels) == 2:
        return skm.roc_auc_score(y_true == labels[1], proba[:, 1], sample_weight=sample_weight)
    weight = np.ones(len(y_true)) if sample_weight is None else np.asarray(sample_weight)
    aucs = [skm.roc_auc_score(y_true == label, proba[:, j], sample_weight=sample_weight)
            for j, label in enumerate(labels)
            if 0 < weight[y_true == label].sum() < weight.sum()]
    return float(np.mean(aucs)) if aucs else float("nan")


def _log_loss(y_true, proba, labels, sample_weight=None) -> float:
    return skm.log_loss(y_true, np.clip(proba, 1e-15, 1.0), labels=labels,
                        sample_weight=sample_weight)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("balanced_accuracy", "classification", True, False,
               lambda y, p, labels, w: skm.balanced_accuracy_score(y, p, sample_weight=w)),
        Metric("roc_auc", "classification", True, True, _roc_auc),
        Metric("log_loss", "classification", False, True, _log_loss),
        Metric("rmse", "regression", False, False,
               lambda y, p, labels, w: skm.root_mean_squared_error(y, p, sample_weight=w)),
        Metric("mae", "regression", False, False,
               lambda y, p, labels, w: skm.mean_absolute_error(y, p, sample_weight=w)),
        Metric("r2", "regression", True, False,
               lambda y, p, labels, w: skm.r2_score(y, p, sample_weight=w)),
    )
}

#: The metric used when none is named.
DEFAULT_METRIC = {"classification": "roc_auc", "regression": "rmse"}


def get_metric(name: str | None, task: str) -> Metric:
    """The metric called ``name`` (default for the task when None), checked against it."""
    name = DEFAULT_METRIC[task] if name is None else name
    if name not in METRICS:
        raise UnknownMetricError(f"unknown metric {name!r}; known metrics: {sorted(METRICS)}")
    metric = METRICS[name]
    if metric.task != task:
        valid = sorted(n for n, m in METRICS.items() if m.task == task)
        raise UnknownMetricError(f"metric {name!r} is for {metric.task}; for {task} use {valid}")
    return metric


def task_metrics(task: str) -> list[Metric]:
    """Every metric of a task type, in a fixed order."""
    return [m for m in METRICS.values() if m.task == task]
