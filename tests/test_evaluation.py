"""Cross-validated evaluation, metrics, and the time/memory-limited worker."""

from __future__ import annotations

import math
import os
import pickle
import re
import signal
import threading
import time
import weakref

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import average_precision_score, fbeta_score

import automl_meta.evaluation as evaluation
from automl_meta.data import make_dataset
from automl_meta.evaluation import (
    DEFAULT_METRIC,
    METRICS,
    STATUSES,
    EvaluationResult,
    _isolate,
    aligned_proba,
    evaluate,
    get_metric,
    make_folds,
    make_metric,
    prestart_worker,
    task_metrics,
    trained_sizes,
)
from automl_meta.evaluation._isolate import Outcome, run_limited
from automl_meta.exceptions import DataValidationError, InvalidParamsError, UnknownMetricError
from automl_meta.spaces import build_pipeline, default_params

KNN = {"n_neighbors": 5, "weights": "uniform", "p": 2}


def test_metric_registry():
    assert [m.name for m in task_metrics("classification")] == [
        "balanced_accuracy", "roc_auc", "log_loss"]
    assert [m.name for m in task_metrics("regression")] == ["rmse", "mae", "r2"]
    assert DEFAULT_METRIC == {"classification": "roc_auc", "regression": "rmse"}
    assert set(METRICS) == {"balanced_accuracy", "roc_auc", "log_loss", "rmse", "mae", "r2"}
    assert STATUSES == ("ok", "failed", "timeout", "memory")


def test_get_metric():
    assert get_metric(None, "classification").name == "roc_auc"
    assert get_metric(None, "regression").name == "rmse"
    assert get_metric("mae", "regression") is METRICS["mae"]
    with pytest.raises(UnknownMetricError, match=r"unknown metric 'f1'; known metrics: \["):
        get_metric("f1", "classification")
    with pytest.raises(UnknownMetricError,
                       match=r"metric 'rmse' is for regression; for classification use "
                             r"\['balanced_accuracy', 'log_loss', 'roc_auc'\]"):
        get_metric("rmse", "classification")


def test_metric_loss_direction():
    assert get_metric("roc_auc", "classification").loss(0.8) == pytest.approx(-0.8)
    assert get_metric("rmse", "regression").loss(0.8) == pytest.approx(0.8)
    assert get_metric("log_loss", "classification").loss(0.3) == pytest.approx(0.3)
    np.testing.assert_allclose(get_metric("r2", "regression").loss([0.5, 0.9]), [-0.5, -0.9])


def test_metric_values():
    labels = np.array(["a", "b"])
    y = np.array(["a", "a", "b", "b"])
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    assert METRICS["roc_auc"](y, proba, labels) == 1.0
    assert METRICS["balanced_accuracy"](y, np.array(["a", "b", "b", "b"]), labels) == 0.75
    assert METRICS["log_loss"](y, proba, labels) == pytest.approx(
        -np.mean(np.log([0.9, 0.6, 0.7, 0.8])))
    assert METRICS["rmse"](np.array([0.0, 0.0]), np.array([3.0, 4.0])) == pytest.approx(
        math.sqrt(12.5))
    assert METRICS["mae"](np.array([0.0, 0.0]), np.array([3.0, -4.0])) == 3.5


def test_multiclass_roc_auc_over_present_classes():
    labels = np.array([0, 1, 2])
    y = np.array([0, 0, 1, 1])  # class 2 absent from this fold
    proba = np.array([[0.7, 0.2, 0.1], [0.6, 0.2, 0.2], [0.2, 0.5, 0.3], [0.1, 0.6, 0.3]])
    assert METRICS["roc_auc"](y, proba, labels) == 1.0


@pytest.mark.parametrize("n_classes", [2, 3, 10])
@pytest.mark.parametrize("weighted", [False, True])
def test_roc_auc_is_scikit_learns_with_ties_and_weights(n_classes, weighted):
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(n_classes)
    y = rng.integers(0, n_classes, 500)
    proba = rng.random((500, n_classes)).round(1) + 0.1  # many tied scores
    proba /= proba.sum(axis=1, keepdims=True)
    weight = rng.random(500) * (rng.random(500) > 0.2) if weighted else None
    labels = np.arange(n_classes)
    if n_classes == 2:
        expected = roc_auc_score(y == 1, proba[:, 1], sample_weight=weight)
    else:
        expected = np.mean([roc_auc_score(y == c, proba[:, c], sample_weight=weight)
                            for c in labels])
    assert METRICS["roc_auc"](y, proba, labels, weight) == pytest.approx(expected, abs=1e-12)


def test_roc_auc_undefined_raises_as_scikit_learns_does():
    labels = np.array([0, 1])
    with pytest.raises(ValueError, match="only one class"):
        METRICS["roc_auc"](np.array([1, 1]), np.array([[0.2, 0.8], [0.4, 0.6]]), labels)
    with pytest.raises(ValueError, match="NaN"):
        METRICS["roc_auc"](np.array([0, 1]), np.array([[0.2, 0.8], [np.nan, np.nan]]), labels)


# ---------------------------------------------------------------------------------------
# Folds


def test_make_folds_stratified(numeric_classification):
    folds = make_folds(numeric_classification, 3, seed=0)
    assert len(folds) == 3
    y = numeric_classification.y.to_numpy()
    test_rows = np.concatenate([test for _, test in folds])
    assert sorted(test_rows.tolist()) == list(range(60))
    overall = y.mean()
    for train, test in folds:
        assert len(set(train) & set(test)) == 0
        assert len(train) + len(test) == 60
        assert abs(y[test].mean() - overall) <= 1 / len(test) + 1e-9
    again = make_folds(numeric_classification, 3, seed=0)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    other = make_folds(numeric_classification, 3, seed=1)
    assert not all(np.array_equal(a[1], b[1]) for a, b in zip(folds, other, strict=True))


@pytest.mark.parametrize("cv", [1, 0, -3, 2.0, True, "3"])
def test_make_folds_rejects_bad_cv(numeric_classification, cv):
    with pytest.raises(DataValidationError, match=r"cv must be an integer >= 2"):
        make_folds(numeric_classification, cv, seed=0)


def test_make_folds_with_a_float_holds_out_that_share_stratified(numeric_classification):
    y = numeric_classification.y.to_numpy()
    [(train, test)] = make_folds(numeric_classification, 0.25, seed=0)
    assert len(test) == round(0.25 * len(y)) and len(train) + len(test) == len(y)
    assert not set(train) & set(test)
    assert abs(y[test].mean() - y.mean()) <= 1 / len(test) + 1e-9  # stratified
    [(_, again)] = make_folds(numeric_classification, 0.25, seed=0)
    [(_, other)] = make_folds(numeric_classification, 0.25, seed=1)
    assert np.array_equal(test, again) and not np.array_equal(test, other)
    result = evaluate("knn", KNN, numeric_classification, cv=0.25, return_predictions=True)
    assert result.ok and len(result.fold_scores["roc_auc"]) == 1
    scored = ~np.isnan(result.oof).any(axis=1)
    assert np.array_equal(np.flatnonzero(scored), np.sort(test))


@pytest.mark.parametrize("cv", [1.0, 1.5, 0.0, -0.2, float("nan")])
def test_make_folds_rejects_bad_holdout_shares(numeric_classification, cv):
    with pytest.raises(DataValidationError, match=r"a float in \(0, 1\) \(holdout share\)"):
        make_folds(numeric_classification, cv, seed=0)


def test_make_folds_holdout_needs_rows_on_both_sides():
    ds = make_dataset(pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]}), [0, 1, 0, 1])
    with pytest.raises(DataValidationError, match=r"holdout of cv=0.01 of 4 rows leaves"):
        make_folds(ds, 0.01, seed=0)


def test_make_folds_needs_enough_rows():
    ds = make_dataset(pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]}), [0, 1, 0, 1])
    with pytest.raises(DataValidationError, match=r"cv=5 folds need at least 5 rows, got 4"):
        make_folds(ds, 5, seed=0)
    with pytest.raises(DataValidationError, match=r"cv=5 folds need at least 5 rows"):
        evaluate("knn", KNN, ds, cv=5)


# ---------------------------------------------------------------------------------------
# evaluate, in process


def test_evaluate_classification(classification_data):
    result = evaluate("knn", KNN, classification_data, cv=3)
    assert isinstance(result, EvaluationResult)
    assert result.status == "ok" and result.ok
    assert result.error is None
    assert (result.family, result.params, result.metric) == ("knn", KNN, "roc_auc")
    assert result.n_rows == 60
    assert set(result.fold_scores) == {"balanced_accuracy", "roc_auc", "log_loss"}
    assert all(len(v) == 3 for v in result.fold_scores.values())
    assert all(np.isfinite(v).all() for v in result.fold_scores.values())
    assert all(0.0 <= v <= 1.0 for v in result.fold_scores["roc_auc"])
    assert result.score() == pytest.approx(np.mean(result.fold_scores["roc_auc"]))
    assert result.score("log_loss") == pytest.approx(np.mean(result.fold_scores["log_loss"]))
    assert len(result.fit_seconds) == len(result.predict_seconds) == 3
    assert all(s >= 0 for s in result.fit_seconds)
    as_dict = result.to_dict()
    assert as_dict["status"] == "ok" and as_dict["fold_scores"] == result.fold_scores
    # Fixed seed: the same folds and scores again.
    assert evaluate("knn", KNN, classification_data, cv=3).fold_scores == result.fold_scores


def test_evaluate_regression(regression_data):
    params = default_params("linear", "regression")
    result = evaluate("linear", params, regression_data, metric="r2", cv=4)
    assert result.status == "ok"
    assert result.metric == "r2"
    assert set(result.fold_scores) == {"rmse", "mae", "r2"}
    assert all(len(v) == 4 for v in result.fold_scores.values())
    assert result.score() == pytest.approx(np.mean(result.fold_scores["r2"]))
    assert all(r >= m for r, m in zip(result.fold_scores["rmse"], result.fold_scores["mae"],
                                      strict=True))


def test_evaluate_informative_features_beat_chance(numeric_classification):
    result = evaluate("linear", default_params("linear", "classification"),
                      numeric_classification, cv=3)
    assert result.score() > 0.8
    assert result.score("balanced_accuracy") > 0.7


def test_evaluate_max_rows_subsamples(regression_data):
    result = evaluate("knn", KNN, regression_data, cv=2, max_rows=30)
    assert result.status == "ok"
    assert result.n_rows == 30


def test_evaluate_checks_inputs(classification_data):
    with pytest.raises(InvalidParamsError, match=r"n_neighbors=0 is outside"):
        evaluate("knn", {**KNN, "n_neighbors": 0}, classification_data, cv=3)
    with pytest.raises(UnknownMetricError, match=r"metric 'rmse' is for regression"):
        evaluate("knn", KNN, classification_data, metric="rmse", cv=3)
    with pytest.raises(DataValidationError, match=r"time_limit must be positive, got 0"):
        evaluate("knn", KNN, classification_data, cv=3, time_limit=0)
    with pytest.raises(DataValidationError, match=r"memory_limit_mb must be positive"):
        evaluate("knn", KNN, classification_data, cv=3, memory_limit_mb=-1)
    with pytest.raises(DataValidationError, match=r"projected_limit must be positive, got -1"):
        evaluate("knn", KNN, classification_data, cv=3, projected_limit=-1)


def test_projected_limit_stops_the_cv_once_its_first_fold_is_too_slow(classification_data,
                                                                       monkeypatch):
    real_fit = evaluation.fit_pipeline

    def slow_fit(*args, **kwargs):
        time.sleep(0.2)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(evaluation, "fit_pipeline", slow_fit)  # in this process: no limit
    result = evaluate("knn", KNN, classification_data, cv=5, projected_limit=0.5)
    assert result.status == "timeout" and np.isnan(result.score())
    assert len(result.fit_seconds) == len(result.predict_seconds) == 1  # one fold run
    assert result.projected_seconds >= 5 * 0.2
    assert re.fullmatch(r"stopped after 1 of 5 folds \(0\.\d s\): the whole CV would take "
                        r"about \d+\.\d s, over the 0\.5 s allowed", result.error)
    assert result.to_dict()["projected_seconds"] == result.projected_seconds
    whole = evaluate("knn", KNN, classification_data, cv=5, projected_limit=60)
    assert whole.ok and len(whole.fit_seconds) == 5 and whole.projected_seconds is None


def test_projected_limit_in_the_worker_and_never_after_the_last_fold(classification_data):
    # Under a time limit the CV runs in a worker process: the stop comes back from there
    # (after the first fold, which ends within a worker's start of the limit).
    stopped = evaluate("knn", KNN, classification_data, cv=3, time_limit=60,
                       projected_limit=1e-9)
    assert stopped.status == "timeout" and len(stopped.fit_seconds) == 1
    assert stopped.error.startswith("stopped after 1 of 3 folds")
    # A single split has no fold after which to stop: only the time limit applies.
    holdout = evaluate("knn", KNN, classification_data, cv=0.25, projected_limit=1e-9)
    assert holdout.ok and holdout.projected_seconds is None


@pytest.mark.parametrize("time_limit", [None, 60])  # in this process, and in a worker
def test_partial_keeps_the_scores_and_models_of_the_folds_done(classification_data,
                                                               time_limit):
    stopped = evaluate("knn", KNN, classification_data, cv=3, time_limit=time_limit,
                       projected_limit=1e-9, partial=True, return_models=True)
    assert stopped.status == "timeout" and np.isnan(stopped.score())
    assert stopped.error.startswith("stopped after 1 of 3 folds")
    whole = evaluate("knn", KNN, classification_data, cv=3, time_limit=time_limit,
                     return_models=True)
    # The first fold's score of every metric, as the whole CV's first fold has it.
    assert stopped.fold_scores == {k: v[:1] for k, v in whole.fold_scores.items()}
    assert len(stopped.models) == 1 and hasattr(stopped.models[0], "predict_proba")
    # Without models asked for, the scores alone; without partial, neither.
    scores_only = evaluate("knn", KNN, classification_data, cv=3, time_limit=time_limit,
                           projected_limit=1e-9, partial=True)
    assert len(scores_only.fold_scores["roc_auc"]) == 1 and scores_only.models is None
    plain = evaluate("knn", KNN, classification_data, cv=3, time_limit=time_limit,
                     projected_limit=1e-9, return_models=True)
    assert plain.fold_scores == {} and plain.models is None


def test_a_fold_too_slow_for_the_projected_limit_is_stopped_in_the_worker_as_it_runs():
    # A forest whose folds take about 5 s each: 0.3 s allowed for 3 folds, the first
    # projects the CV past that at 0.1 s; it is stopped then, and a worker's start
    # later (about a second: what the stop costs), not once it ends.
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(3000, 20)))
    dataset = make_dataset(X, (X[0] + rng.normal(size=3000) > 0).astype(int))
    forest = {**default_params("random_forest", "classification"), "n_estimators": 256,
              "max_features": 1.0}
    worker = _isolate._worker(None)
    result = evaluate("random_forest", forest, dataset, cv=3, time_limit=60,
                      projected_limit=0.3)
    assert worker.start_seconds > 0
    assert result.status == "timeout" and result.fit_seconds == []
    assert result.error == ("stopped during fold 1 of 3: at 0.1 s it projected the whole "
                            "CV past the 0.3 s allowed")
    assert result.projected_seconds == 0.3
    # The killed worker's replacement was started at once; it runs the next call.
    assert run_limited(math.sqrt, 16.0, time_limit=60) == Outcome("ok", 4.0)


@pytest.mark.parametrize("time_limit", [None, 60])  # in this process, and in a worker
def test_return_models_keeps_the_fold_pipelines_or_those_a_refit_could_not_replace_in_time(
        classification_data, time_limit):
    data = classification_data
    folds = make_folds(data, 3, seed=0)
    result = evaluate("knn", KNN, data, cv=3, time_limit=time_limit, return_models=True)
    assert len(result.models) == 3 and "models" not in result.to_dict()
    for model, (train, test) in zip(result.models, folds, strict=True):
        fresh = build_pipeline("knn", KNN, data.schema, data.task, seed=0)
        fresh.fit(data.X.iloc[train], data.y.iloc[train])
        np.testing.assert_allclose(model.predict_proba(data.X.iloc[test]),
                                   fresh.predict_proba(data.X.iloc[test]))
    # A number of seconds: the models only when a refit on all rows, estimated from the
    # folds' fits, would end later than that after the CV began.
    assert len(evaluate("knn", KNN, data, cv=3, time_limit=time_limit,
                        return_models=1e-9).models) == 3
    assert evaluate("knn", KNN, data, cv=3, time_limit=time_limit,
                    return_models=3600).models is None
    assert evaluate("knn", KNN, data, cv=3).models is None


def test_return_models_holds_one_fold_pipeline_at_a_time_far_from_its_seconds(
        classification_data, monkeypatch):
    held = []  # at each fit, how many earlier folds' pipelines are still alive
    built = []
    fit = evaluation.fit_pipeline

    def counting_fit(model, *args):
        held.append(sum(ref() is not None for ref in built))
        built.append(weakref.ref(model))
        return fit(model, *args)

    monkeypatch.setattr(evaluation, "fit_pipeline", counting_fit)
    assert evaluate("knn", KNN, classification_data, cv=3, return_models=True).models
    assert held == [0, 1, 2]
    held.clear(), built.clear()
    # A refit an hour away: none is held past its fold, and none comes back.
    assert evaluate("knn", KNN, classification_data, cv=3, return_models=3600).models is None
    assert held == [0, 0, 0]
    held.clear(), built.clear()
    # Near its seconds, each is held, as the folds project the end past half of them.
    assert len(evaluate("knn", KNN, classification_data, cv=3, return_models=1e-9).models) == 3
    assert held == [0, 1, 2]
    # Once one has been let go, none comes back, even if the refit then ends too late.
    monkeypatch.setattr(evaluation, "KEEP_MODELS_SHARE", 1e12)
    assert evaluate("knn", KNN, classification_data, cv=3, return_models=1e-9).models is None


def test_trained_sizes_count_the_rows_each_trial_trains_on(classification_data):
    n = classification_data.n_rows
    assert trained_sizes(make_folds(classification_data, 5, seed=0), n) == 4.0
    assert trained_sizes(make_folds(classification_data, 0.2, seed=0), n) == pytest.approx(0.8)


def test_return_models_is_checked(classification_data):
    with pytest.raises(DataValidationError, match="return_models must be True, False or a "
                                                  "number of seconds, got 'yes'"):
        evaluate("knn", KNN, classification_data, return_models="yes")


class _Exploding(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        raise RuntimeError("boom in fit")


def test_evaluate_weighs_the_training_rows_and_every_metric(classification_data):
    dataset = classification_data
    weights = np.random.default_rng(0).uniform(0, 3, dataset.n_rows)
    params = default_params("lightgbm", "classification")
    folds = make_folds(dataset, 3, seed=0)
    result = evaluate("lightgbm", params, dataset, cv=folds, sample_weight=weights)
    labels = np.sort(dataset.y.unique())
    for k, (train, test) in enumerate(folds):
        model = build_pipeline("lightgbm", params, dataset.schema, "classification").fit(
            dataset.X.iloc[train], dataset.y.iloc[train], model__sample_weight=weights[train])
        proba = aligned_proba(model, dataset.X.iloc[test], labels)
        y_test = dataset.y.iloc[test].to_numpy()
        for metric in task_metrics("classification"):
            value = metric(y_test, proba if metric.needs_proba else model.predict(
                dataset.X.iloc[test]), labels, weights[test])
            assert result.fold_scores[metric.name][k] == pytest.approx(value)
    assert result.fold_scores != evaluate("lightgbm", params, dataset, cv=folds).fold_scores
    # Weights of one are no weights.
    ones = evaluate("lightgbm", params, dataset, cv=folds, sample_weight=np.ones(dataset.n_rows))
    plain = evaluate("lightgbm", params, dataset, cv=folds)
    for name, values in plain.fold_scores.items():
        assert ones.fold_scores[name] == pytest.approx(values)


def test_a_metric_of_your_own_is_scored_in_process_and_in_the_worker(classification_data):
    dataset = classification_data
    positive = np.sort(dataset.y.unique())[1]
    f2 = make_metric("f2", lambda y, p, **kw: fbeta_score(y, p, beta=2, pos_label=positive,
                                                          **kw), "classification")
    precision = make_metric("ap", lambda y, p: average_precision_score(y == positive, p),
                            "classification", needs_proba=True)
    params = default_params("linear", "classification")
    folds = make_folds(dataset, 3, seed=0)
    for metric in (f2, precision):
        result = evaluate("linear", params, dataset, metric=metric, cv=folds)
        assert result.metric == metric.name
        assert set(result.fold_scores) == {metric.name, *(m.name for m in task_metrics(
            "classification"))}
        for k, (train, test) in enumerate(folds):
            model = build_pipeline("linear", params, dataset.schema, "classification").fit(
                dataset.X.iloc[train], dataset.y.iloc[train])
            y_test = dataset.y.iloc[test]
            expected = (fbeta_score(y_test, model.predict(dataset.X.iloc[test]), beta=2,
                                    pos_label=positive) if metric is f2 else
                        average_precision_score(y_test == positive, model.predict_proba(
                            dataset.X.iloc[test])[:, 1]))
            assert result.fold_scores[metric.name][k] == pytest.approx(expected)
        # The lambdas reach the worker process (pickled by value) and score the same.
        limited = evaluate("linear", params, dataset, metric=metric, cv=folds, time_limit=60)
        assert limited.status == "ok", limited.error
        assert limited.fold_scores[metric.name] == pytest.approx(
            result.fold_scores[metric.name])
    copy = pickle.loads(pickle.dumps(f2))
    assert (copy.name, copy(["a", positive], [positive, positive])) == ("f2", f2(
        ["a", positive], [positive, positive]))
    assert pickle.loads(pickle.dumps(get_metric("roc_auc", "classification"))) is \
        get_metric("roc_auc", "classification")
    # A function without sample_weight cannot score a weighted evaluation.
    with pytest.raises(DataValidationError, match="metric 'ap' takes no sample_weight"):
        evaluate("linear", params, dataset, metric=precision, cv=folds,
                 sample_weight=np.ones(dataset.n_rows))


def test_failing_model_is_a_recorded_result(classification_data, monkeypatch):
    monkeypatch.setattr(evaluation, "build_pipeline", lambda *a, **k: _Exploding())
    result = evaluate("knn", KNN, classification_data, cv=3)
    assert result.status == "failed"
    assert not result.ok
    assert result.error == "RuntimeError: boom in fit"
    assert result.fold_scores == {}
    assert math.isnan(result.score())


def test_knn_with_more_neighbours_than_training_rows_uses_them_all():
    # k=64 neighbours in 20 training rows: k is clipped to the rows, not an error.
    ds = make_dataset(pd.DataFrame({"a": np.arange(30.0)}), np.arange(30) % 2)
    result = evaluate("knn", {**KNN, "n_neighbors": 64}, ds, cv=3)
    assert result.status == "ok", result.error


def test_rare_class_absent_from_some_folds():
    rng = np.random.default_rng(4)
    y = np.array(["a"] * 43 + ["b"] * 44 + ["c"] * 3)
    X = pd.DataFrame({"x": rng.normal(size=90) + (y == "b") * 2.0})
    ds = make_dataset(X, y)
    folds = make_folds(ds, 5, seed=0)  # too few 'c' rows to be in every fold
    assert sum("c" not in set(y[test]) for _, test in folds) == 2
    result = evaluate("knn", KNN, ds, cv=5)
    assert result.status == "ok"
    assert len(result.fold_scores["roc_auc"]) == 5
    assert np.isfinite(result.fold_scores["roc_auc"]).all()
    assert np.isfinite(result.fold_scores["log_loss"]).all()


def test_folds_stay_stratified_when_a_class_is_rarer_than_the_folds():
    # raw_solar.flare2's training split: 795 / 3 / 1 rows. Unstratified 2-fold splits put
    # all three 'b' rows in one fold now and then, leaving the other a single class where
    # ROC AUC is undefined, and the trial failed.
    y = np.array(["a"] * 795 + ["b"] * 3 + ["c"])
    X = pd.DataFrame({"x": np.random.default_rng(0).normal(size=len(y)) + (y != "a") * 3.0})
    ds = make_dataset(X, y)
    for seed in range(20):
        for train, test in make_folds(ds, 2, seed=seed):
            assert {"a", "b"} <= set(y[test]) and {"a", "b"} <= set(y[train])
    result = evaluate("knn", KNN, ds, cv=2)
    assert result.status == "ok", result.error
    assert np.isfinite(result.fold_scores["roc_auc"]).all()


def test_binary_fold_with_one_class_gives_clear_status():
    # 2 positives in 10 rows with 5 folds: some test folds hold a single class, where
    # ROC AUC is undefined; the primary metric must not silently average NaNs.
    y = np.array([0] * 8 + [1] * 2)
    ds = make_dataset(pd.DataFrame({"x": np.arange(10.0)}), y)
    result = evaluate("knn", {**KNN, "n_neighbors": 1}, ds, cv=5)
    assert result.status == "failed"
    assert "roc_auc is not finite on some fold" in result.error
    # A metric defined on every fold can still be used as the primary one.
    ok = evaluate("knn", {**KNN, "n_neighbors": 1}, ds, metric="balanced_accuracy", cv=5)
    assert ok.status == "ok"
    assert np.isnan(ok.fold_scores["roc_auc"]).any()


# ---------------------------------------------------------------------------------------
# The limited worker


def test_run_limited_ok_and_failure():
    assert run_limited(math.sqrt, 16.0) == Outcome("ok", 4.0)
    failed = run_limited(math.sqrt, -1.0)
    assert failed.status == "failed"
    assert failed.error == "ValueError: math domain error"
    assert run_limited(int, "12", base=3) == Outcome("ok", 5)


def test_time_limit_stops_a_runaway_call():
    start = time.monotonic()
    outcome = run_limited(time.sleep, 30, time_limit=1)
    elapsed = time.monotonic() - start
    assert outcome.status == "timeout"
    assert outcome.error == "stopped after 1 s"
    assert elapsed < 10
    # The killed worker is replaced on the next call.
    assert run_limited(math.sqrt, 16.0, time_limit=60) == Outcome("ok", 4.0)


def test_a_call_interrupted_in_the_caller_leaves_no_reply_for_the_next_call():
    assert run_limited(math.sqrt, 16.0, time_limit=60) == Outcome("ok", 4.0)  # a worker

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.5)  # Ctrl-C while the worker sleeps
        with pytest.raises(KeyboardInterrupt):
            run_limited(time.sleep, 2.0, time_limit=60)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    time.sleep(2.0)  # the sleep would be over and answered by now
    assert run_limited(math.sqrt, 25.0, time_limit=60) == Outcome("ok", 5.0)


def test_memory_limit_reports_memory():
    outcome = run_limited(bytearray, 8_000_000_000, memory_limit_mb=1500)
    assert outcome.status == "memory"
    assert "MemoryError" in outcome.error
    # The worker survives a MemoryError and serves the next call.
    assert run_limited(len, "abc", memory_limit_mb=1500) == Outcome("ok", 3)


def test_memory_limit_too_small_for_the_worker_reports_memory():
    outcome = run_limited(bytearray, 2_000_000_000, memory_limit_mb=300)
    assert outcome.status == "memory"


def _in_fresh_thread(fn):
    box = {}
    thread = threading.Thread(target=lambda: box.setdefault("value", fn()))
    thread.start()
    thread.join(120)
    return box["value"]


def test_worker_start_up_is_not_counted_against_the_time_limit():
    # A thread of its own gets a fresh worker; math.sqrt takes microseconds.
    outcome = _in_fresh_thread(lambda: run_limited(math.sqrt, 4.0, time_limit=0.1))
    assert outcome == Outcome("ok", 2.0)


def test_prestart_starts_the_thread_s_worker_before_its_first_call():
    def started_in_the_background():
        prestart_worker()
        worker = _isolate._worker(None)
        deadline = time.monotonic() + 60
        while worker._proc is None and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = None if worker._proc is None else worker._proc.pid
        outcome = run_limited(os.getpid)
        worker.close()
        return pid, outcome

    pid, outcome = _in_fresh_thread(started_in_the_background)
    assert pid is not None and outcome == Outcome("ok", pid)  # the call used that worker
    # A call while the worker is still starting waits for it.
    assert _in_fresh_thread(lambda: (prestart_worker(), run_limited(math.sqrt, 9.0))[1]) == \
        Outcome("ok", 3.0)


def test_evaluate_with_time_limit(classification_data):
    result = evaluate("knn", KNN, classification_data, cv=3, time_limit=120)
    assert result.status == "ok"
    assert set(result.fold_scores) == {"balanced_accuracy", "roc_auc", "log_loss"}
    in_process = evaluate("knn", KNN, classification_data, cv=3)
    assert result.fold_scores == in_process.fold_scores


def test_evaluate_reports_timeout(classification_data):
    # lightgbm with many trees cannot finish 3 folds in a few milliseconds.
    params = {**default_params("lightgbm", "classification"), "n_estimators": 512}
    result = evaluate("lightgbm", params, classification_data, cv=3, time_limit=0.01)
    assert result.status == "timeout"
    assert result.error == "stopped after 0.01 s"
    assert result.fold_scores == {}
    assert math.isnan(result.score())
