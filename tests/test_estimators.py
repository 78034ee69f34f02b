"""AutoMetaClassifier / AutoMetaRegressor, and the ``fit`` and ``predict`` commands."""

from __future__ import annotations

import inspect
import json
import math
import os
import pickle
import re
import signal
import time
import warnings

import joblib
import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import mixed_frame, mixed_target
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold, TimeSeriesSplit
from sklearn.utils.estimator_checks import parametrize_with_checks

import automl_meta.estimators as estimators
from automl_meta.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main
from automl_meta.data import make_dataset
from automl_meta.estimators import AutoMetaClassifier, AutoMetaRegressor, SearchFailedError
from automl_meta.evaluation import (
    EvaluationResult,
    evaluate,
    get_metric,
    make_folds,
    make_metric,
)
from automl_meta.exceptions import (
    AutoMetaError,
    DataValidationError,
    UnknownFamilyError,
    UnknownMetricError,
)
from automl_meta.spaces import FAMILIES, default_params

#: Small and fast: trials run in process (no time budget), no meta-learning (TPE from the
#: defaults; the meta-learned search has its own tests in test_sampler.py).
FAST = {"time_budget": None, "cv": 3, "random_state": 0, "knowledge_base": False}


@pytest.fixture(scope="module")
def cls_data() -> tuple[pd.DataFrame, pd.Series]:
    X = mixed_frame(90)
    return X, mixed_target(X, "classification")


@pytest.fixture(scope="module")
def fitted_classifier(cls_data) -> AutoMetaClassifier:
    X, y = cls_data
    return AutoMetaClassifier(n_trials=4, families=["linear", "knn"], **FAST).fit(X, y)


def _expected_failed_checks(estimator) -> dict[str, str]:
    reason = ("cross-validation splits a row repeated twice between folds, while a row of "
              "weight 2 is in one fold: the searches differ")
    return {"check_sample_weight_equivalence_on_dense_data": reason}


@parametrize_with_checks([
    AutoMetaClassifier(n_trials=2, cv=2, families=["linear"], time_budget=30,
                       knowledge_base=False),
    AutoMetaRegressor(n_trials=2, cv=2, families=["linear"], time_budget=30,
                      knowledge_base=False),
], expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------------------------
# Fitting and predicting


def test_classifier_on_categoricals_and_missing_values(fitted_classifier, cls_data):
    X, y = cls_data
    model = fitted_classifier
    assert X.isna().to_numpy().any() and (X.dtypes == "category").sum() == 2
    assert list(model.classes_) == ["c0", "c1"]
    assert model.n_features_in_ == 4
    assert list(model.feature_names_in_) == ["num1", "num2", "low", "high"]
    predictions = model.predict(X)
    assert set(predictions) <= {"c0", "c1"}
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # Columns follow classes_: the most probable class is (almost always) the prediction.
    assert np.mean(model.classes_[proba.argmax(axis=1)] == predictions) > 0.95
    assert model.score(X, y) > 0.8
    assert model.best_estimator_.steps[-1][0] == "model"


def test_regressor_on_categoricals_and_missing_values():
    X = mixed_frame(90)
    y = mixed_target(X, "regression")
    model = AutoMetaRegressor(n_trials=3, families=["linear", "lightgbm"], **FAST).fit(X, y)
    assert model.predict(X).shape == (len(X),)
    assert model.score(X, y) > 0.5
    assert model.study_.user_attrs["metric"] == "rmse"
    # rmse: lower is better, so the leaderboard's scores go up.
    scores = model.leaderboard_["score"].to_numpy()
    assert np.all(np.diff(scores) >= 0)
    assert model.best_score_ == scores[0]


def test_leaderboard_sorted_and_best_row_is_best_params(fitted_classifier):
    board = fitted_classifier.leaderboard_
    assert list(board.columns) == list(estimators.LEADERBOARD_COLUMNS)
    assert list(board["rank"]) == [1, 2, 3, 4]
    assert (board["status"] == "ok").all()
    assert np.all(np.diff(board["score"].to_numpy()) <= 0)  # roc_auc: higher is better
    best = board.iloc[0]
    assert fitted_classifier.best_params_ == {"family": best["family"], **best["params"]}
    assert fitted_classifier.best_score_ == best["score"]
    assert (board["std"] >= 0).all() and (board["fit_seconds"] > 0).all()
    trial = fitted_classifier.study_.trials[best["trial"]]
    assert np.mean(trial.user_attrs["fold_scores"]) == pytest.approx(best["score"])


def test_n_trials_respected_and_defaults_first(fitted_classifier):
    trials = fitted_classifier.study_.trials
    assert len(trials) == 4
    firsts = [(t.params["family"], t.user_attrs.get("source")) for t in trials[:2]]
    assert firsts == [("linear", "default"), ("knn", "default")]
    knn = {k.removeprefix("knn__"): v for k, v in trials[1].params.items() if k != "family"}
    assert knn == default_params("knn", "classification")


def test_time_budget_honoured_by_stopping_a_runaway_trial():
    # SVM with probabilities on 8,000 rows takes far longer than the budget (about 30 s
    # per trial): only stopping the running trial keeps the fit near the budget.
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(8000, 10)), columns=[f"f{i}" for i in range(10)])
    y = (X["f0"] + 2 * rng.normal(size=8000) > 0).astype(int)
    budget = 8.0  # knn's trial needs ~1 s, or several on a loaded machine
    model = AutoMetaClassifier(time_budget=budget, families=["knn", "svm"], cv=5,
                               random_state=0, knowledge_base=False)
    start = time.monotonic()
    model.fit(X, y)
    elapsed = time.monotonic() - start
    # Slack: a worker process (re)start is not counted in a trial's limit; loaded machine.
    assert elapsed < budget + 14
    statuses = model.leaderboard_.groupby("family")["status"].agg(set).to_dict()
    assert "ok" in statuses["knn"] and statuses["svm"] == {"timeout"}
    assert model.best_params_["family"] == "knn"


def test_a_first_trial_that_cannot_end_within_the_budget_stops_after_a_fold():
    # SVM's defaults first (about 6 s a fold here): its first fold shows that its CV
    # cannot end within the budget (at a fifth of the budget and its slack, or a worker's
    # start later, the fold ends or is stopped), so it stops there and k-NN still has
    # time. Run to the budget's end, it left nothing for k-NN and the fit failed. (Ended
    # before it is stopped, the fold scores the trial, delivered as its model.)
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(8000, 10)), columns=[f"f{i}" for i in range(10)])
    y = (X["f0"] + 2 * rng.normal(size=8000) > 0).astype(int)
    model = AutoMetaClassifier(time_budget=20, families=["svm", "knn"], cv=5, n_trials=2,
                               ensemble_size=1, random_state=0,
                               knowledge_base=False).fit(X, y)
    first, second = model.study_.trials
    assert first.params["family"] == "svm"
    during = first.user_attrs["status"] == "timeout"
    assert re.match(r"stopped during fold 1 of 5" if during else
                    r"scored on 1 of 5 folds, delivered as their models: stopped after 1 of 5 "
                    r"folds", first.user_attrs["error"])
    assert second.params["family"] == "knn" and second.user_attrs["status"] == "ok"


def test_a_trial_its_first_folds_show_too_slow_stops_there(cls_data, monkeypatch):
    # Every trial's first fold projects it past a share this small of the time left: each
    # trial after the first (which has nothing to fall back on, and fits in the budget)
    # stops after one fold.
    monkeypatch.setattr(estimators, "SLOW_TRIAL_SHARE", 1e-9)
    monkeypatch.setattr(estimators, "SHORT_TRIAL_SHARE", 0.0)
    X, y = cls_data
    model = AutoMetaClassifier(n_trials=4, time_budget=120, families=["linear", "knn"],
                               cv=3, random_state=0, knowledge_base=False).fit(X, y)
    trials = model.study_.trials
    assert trials[0].user_attrs["status"] == "ok"
    assert model.best_params_["family"] == trials[0].params["family"]
    for trial in trials[1:]:
        assert trial.user_attrs["status"] == "timeout"
        assert trial.user_attrs["error"].startswith("stopped after 1 of 3 folds")
        assert trial.user_attrs["projected_seconds"] > 0
    board = model.leaderboard_
    assert list(board["status"]) == ["ok", "timeout", "timeout", "timeout"]
    # Without a time budget nothing is projected against: every trial runs to the end.
    unlimited = AutoMetaClassifier(n_trials=3, time_budget=None, families=["linear", "knn"],
                                   cv=3, random_state=0, knowledge_base=False).fit(X, y)
    assert (unlimited.leaderboard_["status"] == "ok").all()


def test_a_short_trial_that_fits_in_the_time_left_runs_to_the_end(cls_data, monkeypatch):
    # Half the time left is less than any trial takes here (as near the deadline), but
    # these trials take far less than a twentieth of the budget: none is stopped.
    monkeypatch.setattr(estimators, "SLOW_TRIAL_SHARE", 1e-9)
    X, y = cls_data
    model = AutoMetaClassifier(n_trials=4, time_budget=120, families=["linear", "knn"],
                               cv=3, random_state=0, knowledge_base=False).fit(X, y)
    assert (model.leaderboard_["status"] == "ok").all()
    assert not any("projected_seconds" in t.user_attrs for t in model.study_.trials)


@pytest.mark.parametrize("cv", [3, 0.25])
def test_a_holdout_trial_is_stopped_once_it_has_run_too_long(cls_data, monkeypatch, cv):
    # With one fold there are no first folds to project from: a holdout trial's time
    # limit is the limit its projection would have had.
    limits = []

    def spy(*args, time_limit=None, projected_limit=None, **kwargs):
        limits.append((time_limit, projected_limit))
        return evaluate(*args, time_limit=time_limit, projected_limit=projected_limit,
                        **kwargs)

    monkeypatch.setattr(estimators, "evaluate", spy)
    X, y = cls_data
    AutoMetaClassifier(n_trials=3, time_budget=120, families=["linear", "knn"], cv=cv,
                       random_state=0, knowledge_base=False).fit(X, y)
    # The first trial has nothing to fall back on: it runs to the end unless its first
    # folds show that it cannot end within the budget anyway, with the slack a refit has
    # past the deadline (6 s here): its fold models are delivered without a refit.
    assert 120 < limits[0][0] == limits[0][1] <= 126
    for time_limit, projected in limits[1:]:
        assert 0 < projected < 120
        assert (time_limit == projected) if cv == 0.25 else (time_limit > projected)
    # On a subsample every trial's configuration is refit on all rows, which needs time
    # before the deadline: no slack.
    limits.clear()
    AutoMetaClassifier(n_trials=1, time_budget=120, families=["linear"], cv=cv,
                       search_rows=60, random_state=0, knowledge_base=False).fit(X, y)
    assert 110 < limits[0][0] == limits[0][1] <= 120


def test_parallel_trials(cls_data):
    X, y = cls_data
    model = AutoMetaClassifier(n_trials=4, n_jobs=2, time_budget=120, families=["linear"],
                               cv=3, random_state=0, knowledge_base=False).fit(X, y)
    assert len(model.study_.trials) == 4
    assert (model.leaderboard_["status"] == "ok").all()


def test_failed_trials_are_recorded_and_the_search_goes_on(cls_data, monkeypatch):
    real_evaluate = estimators.evaluate

    def knn_breaks(family, params, dataset, *args, **kwargs):
        if family == "knn":
            return EvaluationResult(family, params, "roc_auc", "failed",
                                    error="ValueError: knn broke")
        return real_evaluate(family, params, dataset, *args, **kwargs)

    monkeypatch.setattr(estimators, "evaluate", knn_breaks)
    X, y = cls_data
    model = AutoMetaClassifier(n_trials=4, families=["knn", "linear"], **FAST).fit(X, y)
    board = model.leaderboard_
    assert len(board) == 4
    assert board["status"].iloc[0] == "ok" and model.best_params_["family"] == "linear"
    failed = board[board["family"] == "knn"]
    assert len(failed) >= 1
    assert (failed["status"] == "failed").all() and failed["rank"].isna().all()
    assert (failed["error"] == "ValueError: knn broke").all()
    assert failed.index.min() > board[board["status"] == "ok"].index.max()  # failures last


def test_every_trial_failing_is_a_clear_error(cls_data, monkeypatch):
    def always_fails(family, params, dataset, *args, **kwargs):
        return EvaluationResult(family, params, "roc_auc", "failed",
                                error=f"ValueError: {family} cannot fit")

    monkeypatch.setattr(estimators, "evaluate", always_fails)
    X, y = cls_data
    with pytest.raises(SearchFailedError, match="every trial failed") as info:
        AutoMetaClassifier(n_trials=2, families=["linear", "knn"], **FAST).fit(X, y)
    assert "linear cannot fit" in str(info.value) and "knn cannot fit" in str(info.value)
    assert "ran out of time" not in str(info.value)

    def always_too_slow(family, params, dataset, *args, **kwargs):
        return EvaluationResult(family, params, "roc_auc", "timeout",
                                error="stopped after 1 of 5 folds (9.0 s)")

    # Every trial out of time (wide data under a short budget): what to change is named.
    monkeypatch.setattr(estimators, "evaluate", always_too_slow)
    with pytest.raises(SearchFailedError, match="every trial ran out of time: give a larger "
                                                "time_budget") as info:
        AutoMetaClassifier(n_trials=2, families=["linear", "knn"], **FAST).fit(X, y)
    assert "cv=3" in str(info.value) and "search_rows" in str(info.value)


# ---------------------------------------------------------------------------------------
# Input checks


@pytest.mark.parametrize("params, match", [
    ({"time_budget": 0}, "time_budget"),
    ({"time_budget": -3.0}, "time_budget"),
    ({"n_trials": 0}, "n_trials"),
    ({"time_budget": None, "n_trials": None}, "time_budget or n_trials"),
    ({"cv": 1}, "cv"),
    ({"cv": 1.5}, "cv"),
    ({"cv": "holdout"}, "cv must be 'auto'"),
    ({"n_jobs": 0}, "n_jobs"),
    ({"families": []}, "families"),
])
def test_bad_parameters_are_named(cls_data, params, match):
    X, y = cls_data
    with pytest.raises(ValueError, match=match):
        AutoMetaClassifier(**{"n_trials": 1, **params}).fit(X, y)


def test_unknown_family_and_metric(cls_data):
    X, y = cls_data
    with pytest.raises(UnknownFamilyError, match="nope"):
        AutoMetaClassifier(n_trials=1, families=["nope"]).fit(X, y)
    with pytest.raises(UnknownMetricError, match="rmse"):
        AutoMetaClassifier(n_trials=1, metric="rmse").fit(X, y)


def test_missing_and_extra_columns_at_predict_are_named(fitted_classifier, cls_data):
    X, _ = cls_data
    with pytest.raises(ValueError, match="missing:\n- num2"):
        fitted_classifier.predict(X.drop(columns="num2"))
    with pytest.raises(ValueError, match="unseen at fit time:\n- surprise"):
        fitted_classifier.predict(X.assign(surprise=1.0))
    with pytest.raises(ValueError, match="expecting 4 features"):
        fitted_classifier.predict(X.to_numpy()[:, :3])


def test_numpy_input_of_the_right_width(fitted_classifier, cls_data):
    X, _ = cls_data
    with pytest.warns(UserWarning, match="valid feature names"):
        from_array = fitted_classifier.predict_proba(X.to_numpy(dtype=object))
    np.testing.assert_allclose(from_array, fitted_classifier.predict_proba(X))


@pytest.mark.parametrize("family", ["lightgbm", "linear", "random_forest"])
def test_unseen_categories_at_predict(cls_data, family):
    X, y = cls_data
    model = AutoMetaClassifier(n_trials=1, families=[family], **FAST).fit(X, y)
    new = X.head(5).copy()
    new["low"] = pd.Categorical(["purple", "red", None, "purple", "green"])
    new["high"] = "never-seen"
    with pytest.warns(UserWarning, match=r"categories not seen in fit, which the pipelines "
                      r"encode as unknown: column 'low': 1 \('purple'\) in 2 rows; column "
                      r"'high': 1 \('never-seen'\) in 5 rows"):
        proba = model.predict_proba(new)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict_proba(X.head(5))  # categories seen in fit: no warning
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    with pytest.warns(UserWarning, match="categories not seen in fit"):
        assert set(model.predict(new)) <= set(model.classes_)


def test_feature_names_only_for_string_columns(cls_data):
    X, y = cls_data
    model = AutoMetaClassifier(n_trials=1, families=["linear"], **FAST)
    model.fit(X[["num1", "num2"]].to_numpy(), y)
    assert model.n_features_in_ == 2 and not hasattr(model, "feature_names_in_")


def test_inf_at_predict_is_an_error(fitted_classifier, cls_data):
    X, _ = cls_data
    with pytest.raises(AutoMetaError, match="'num1'.*infinite"):
        fitted_classifier.predict(X.head(3).assign(num1=np.inf))


# ---------------------------------------------------------------------------------------
# Persistence and sklearn tooling


def test_pickle_and_joblib_round_trip(fitted_classifier, cls_data, tmp_path):
    X, _ = cls_data
    path = tmp_path / "model.joblib"
    joblib.dump(fitted_classifier, path)
    for loaded in (joblib.load(path), pickle.loads(pickle.dumps(fitted_classifier))):
        np.testing.assert_array_equal(loaded.predict(X), fitted_classifier.predict(X))
        np.testing.assert_array_equal(loaded.predict_proba(X),
                                      fitted_classifier.predict_proba(X))
        assert len(loaded.study_.trials) == len(fitted_classifier.study_.trials)


def test_sqlite_study_persists_and_resumes(cls_data, tmp_path):
    X, y = cls_data
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    settings = {"families": ["linear"], "storage": storage, "study_name": "shared", **FAST}
    AutoMetaClassifier(n_trials=2, **settings).fit(X, y)
    assert len(optuna.load_study(study_name="shared", storage=storage).trials) == 2
    model = AutoMetaClassifier(n_trials=1, **settings).fit(X, y)
    trials = optuna.load_study(study_name="shared", storage=storage).trials
    assert len(trials) == 3
    # The default configuration is enqueued once, not again on resuming.
    assert sum(t.user_attrs.get("source") == "default" for t in trials) == 1
    assert len(model.leaderboard_) == 3
    with pytest.raises(AutoMetaError, match="task"):
        AutoMetaRegressor(n_trials=1, **settings).fit(X, mixed_target(X, "regression"))


def test_clone_and_grid_search(cls_data):
    X, y = cls_data
    base = AutoMetaClassifier(n_trials=1, **FAST)
    assert clone(base).get_params() == base.get_params()
    search = GridSearchCV(base, {"families": [["linear"], ["knn"]]}, cv=2).fit(X, y)
    assert search.best_params_["families"] in (["linear"], ["knn"])


# ---------------------------------------------------------------------------------------
# Command line


@pytest.fixture
def csv_file(tmp_path):
    X = mixed_frame(60)
    frame = X.assign(label=mixed_target(X, "classification"))
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    return path


def _no_traceback(capsys) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err


def test_cli_fit_then_predict(csv_file, tmp_path, capsys):
    model_path, preds_path = tmp_path / "model.joblib", tmp_path / "preds.csv"
    code = main(["fit", str(csv_file), "--target", "label", "--time", "60", "--trials", "3",
                 "--families", "linear", "knn", "--cv", "3", "--no-meta",
                 "--out", str(model_path)])
    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert model_path.is_file()
    assert "rank" in out and "family" in out and "linear" in out
    ensemble = joblib.load(model_path).ensemble_
    assert (f"refit: an ensemble of {len(ensemble)} pipelines" in out) == (len(ensemble) > 1)
    assert out.rstrip().endswith(f"wrote {model_path}")  # after the refit, as it happens
    code = main(["predict", str(model_path), str(csv_file), "--out", str(preds_path),
                 "--proba"])
    assert code == EXIT_OK
    preds = pd.read_csv(preds_path)
    assert len(preds) == 60
    assert list(preds.columns) == ["prediction", "proba_c0", "proba_c1"]
    assert set(preds["prediction"]) <= {"c0", "c1"}
    captured = capsys.readouterr()
    assert "warning" not in captured.err
    # The file holds the target: the predictions are scored with fit's metric.
    labels = pd.read_csv(csv_file)["label"]
    auc = get_metric("roc_auc", "classification")(
        labels, preds[["proba_c0", "proba_c1"]].to_numpy(), labels=np.array(["c0", "c1"]))
    assert captured.out.splitlines()[-1] == f"roc_auc on the 60 rows of train.csv: {auc:.4f}"
    partly = tmp_path / "partly.csv"
    pd.read_csv(csv_file).assign(label=labels.where(labels.index >= 20)).to_csv(partly,
                                                                               index=False)
    assert main(["predict", str(model_path), str(partly), "--out", str(preds_path)]) == 0
    auc = get_metric("roc_auc", "classification")(
        labels[20:], preds[["proba_c0", "proba_c1"]].to_numpy()[20:],
        labels=np.array(["c0", "c1"]))
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"roc_auc on 40 rows of partly.csv (those where 'label' holds a value): {auc:.4f}")
    unseen = tmp_path / "unseen.csv"
    pd.read_csv(csv_file).assign(label=labels.where(labels.index >= 3, "c9")).to_csv(
        unseen, index=False)
    assert main(["predict", str(model_path), str(unseen), "--out", str(preds_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "not scored: 'label' holds classes fit did not see: 'c9' (3 of 60 rows)")
    # A category fit did not see: one plain line on stderr, for predict and proba alike.
    new = tmp_path / "new.csv"
    pd.read_csv(csv_file).assign(low="purple").to_csv(new, index=False)
    assert main(["predict", str(model_path), str(new), "--out", str(preds_path),
                 "--proba"]) == EXIT_OK
    assert capsys.readouterr().err.splitlines() == [
        "automl-meta predict: warning: categories not seen in fit, which the pipelines "
        "encode as unknown: column 'low': 1 ('purple') in 60 rows"]


def test_cli_predict_takes_an_arff_files_last_attribute_as_the_target_as_fit_does(
        tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=80)
    rows = "\n".join(f"{v:.4f},{w:.4f},{'yes' if v > 0 else 'no'}"
                      for v, w in zip(x, rng.normal(size=80), strict=True))
    data = tmp_path / "data.arff"
    data.write_text("@RELATION r\n@ATTRIBUTE a NUMERIC\n@ATTRIBUTE b NUMERIC\n"
                    "@ATTRIBUTE outcome {no,yes}\n@DATA\n" + rows + "\n")
    model_path = tmp_path / "m.joblib"
    assert main(["fit", str(data), "--trials", "1", "--families", "linear", "--no-meta",
                 "--cv", "3", "--ensemble-size", "1", "--quiet", "--out",
                 str(model_path)]) == EXIT_OK
    capsys.readouterr()
    assert main(["predict", str(model_path), str(data), "--out",
                 str(tmp_path / "p.csv")]) == EXIT_OK
    captured = capsys.readouterr()
    assert "warning" not in captured.err  # 'outcome' is not an unseen column
    assert captured.out.splitlines()[-1].startswith("roc_auc on the 80 rows of data.arff: ")


@pytest.mark.parametrize("labels, dtype, kind", [([0, 1], "Int64", "i"),
                                                 ([False, True], "boolean", "b"),
                                                 (["no", "yes"], "string", "O")])
def test_labels_of_nullable_dtypes_come_back_as_given(labels, dtype, kind):
    # Models turn nullable integers and booleans into floats: 1.0 for 1 and for True.
    X = pd.DataFrame({"a": np.arange(200.0)})
    y = pd.Series(np.array(labels)[(np.arange(200) >= 100).astype(int)], dtype=dtype)
    model = AutoMetaClassifier(**{**FAST, "n_trials": 1, "families": ["lightgbm"]}).fit(X, y)
    assert model.classes_.tolist() == labels and model.classes_.dtype.kind == kind
    predictions = model.predict(X.iloc[[0, 199]])
    assert predictions.tolist() == labels and predictions.dtype.kind == kind


def test_dates_are_numbers_so_that_later_dates_are_not_unseen_categories(tmp_path, capsys):
    when = pd.Series(pd.date_range("2024-01-01", periods=90, freq="D"))
    X = pd.DataFrame({"when": when, "noise": np.random.default_rng(0).normal(size=90)})
    y = pd.Series(np.where(when >= when[45], "late", "early"))
    model = AutoMetaClassifier(**{**FAST, "n_trials": 1, "families": ["random_forest"],
                                  "ensemble_size": 1}).fit(X, y)
    assert model._schema.numeric == ("when", "noise")
    later = pd.DataFrame({"when": pd.date_range("2025-01-01", periods=5), "noise": 0.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "categories not seen in fit"
        assert list(model.predict(later)) == ["late"] * 5
    # In CSV files, as ISO 8601 text.
    data, new, model_path = tmp_path / "d.csv", tmp_path / "new.csv", tmp_path / "m.joblib"
    X.assign(label=y).to_csv(data, index=False)
    later.to_csv(new, index=False)
    assert main(["fit", str(data), "--target", "label", "--trials", "1", "--families",
                 "random_forest", "--ensemble-size", "1", "--no-meta", "--cv", "3", "--out",
                 str(model_path), "--quiet"]) == EXIT_OK
    assert main(["predict", str(model_path), str(new), "--out", str(tmp_path / "p.csv")]) == 0
    assert "warning" not in capsys.readouterr().err
    assert pd.read_csv(tmp_path / "p.csv")["prediction"].tolist() == ["late"] * 5


def test_columns_without_any_value_are_refused_but_may_be_empty_in_folds_and_at_predict(
        tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=90), "b": rng.normal(size=90), "sparse": np.nan})
    X.loc[4, "sparse"] = 1.0  # missing from the training rows of some folds
    y = pd.Series(np.where(X["a"] + X["b"] > 0, "yes", "no"))
    with pytest.raises(DataValidationError, match=r"2 columns of X are entirely missing: "
                                                  r"'empty', 'text'; drop them"):
        AutoMetaClassifier(**{**FAST, "n_trials": 1}).fit(X.assign(empty=np.nan, text=None), y)
    model = AutoMetaClassifier(**{**FAST, "n_trials": len(FAMILIES),
                                  "families": list(FAMILIES)}).fit(X, y)
    assert (model.leaderboard_["status"] == "ok").all()  # hist_gradient_boosting too
    assert model.predict(X.assign(sparse=np.nan)).shape == (90,)  # none at predict: fine
    # The command line refuses such a file, naming the column.
    data = tmp_path / "d.csv"
    X.assign(empty=np.nan, label=y).to_csv(data, index=False)
    capsys.readouterr()
    assert main(["fit", str(data), "--target", "label", "--trials", "1", "--no-meta",
                 "--out", str(tmp_path / "m.joblib"), "--quiet"]) == EXIT_USAGE
    assert "column 'empty' of X is entirely missing; drop it" in capsys.readouterr().err
    assert not (tmp_path / "m.joblib").exists()


@pytest.mark.parametrize("args", [
    ["fit", "missing.csv", "--out", "m.joblib"],
    ["fit", "{csv}", "--target", "nope", "--out", "m.joblib"],
    ["fit", "{csv}", "--families", "nope", "--out", "m.joblib"],
    ["fit", "{csv}", "--time", "0", "--out", "m.joblib"],
    ["fit", "{csv}", "--cv", "1", "--out", "m.joblib"],
    ["fit", "{csv}", "--out", "no/such/folder/m.joblib"],
    ["predict", "{csv}", "{csv}", "--out", "p.csv"],
    ["predict", "missing.joblib", "{csv}", "--out", "p.csv"],
])
def test_cli_bad_input_exits_2(args, csv_file, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main([a.format(csv=csv_file) for a in args])
    err = _no_traceback(capsys)
    assert code == EXIT_USAGE
    assert err.startswith(f"automl-meta {args[0]}: error:")


def test_cli_predict_names_a_missing_column_and_matches_columns_by_name(csv_file, tmp_path, capsys):
    model_path = tmp_path / "model.joblib"
    assert main(["fit", str(csv_file), "--target", "label", "--trials", "1", "--families",
                 "linear", "--cv", "3", "--out", str(model_path), "--quiet"]) == EXIT_OK
    short = tmp_path / "short.csv"
    pd.read_csv(csv_file).drop(columns=["num2", "label"]).to_csv(short, index=False)
    capsys.readouterr()
    code = main(["predict", str(model_path), str(short), "--out", str(tmp_path / "p.csv")])
    assert code == EXIT_USAGE
    assert "num2" in _no_traceback(capsys)
    # The same columns in another order, and one fit did not see: matched by name, and
    # the other left out with a warning.
    shuffled, preds = tmp_path / "shuffled.csv", tmp_path / "p.csv"
    frame = pd.read_csv(csv_file)
    frame[frame.columns[::-1]].assign(row_id=range(60)).to_csv(shuffled, index=False)
    capsys.readouterr()
    assert main(["predict", str(model_path), str(shuffled), "--out", str(preds)]) == EXIT_OK
    assert capsys.readouterr().err.splitlines() == [
        f"automl-meta predict: warning: {shuffled}: 1 column(s) not seen in fit, left out: "
        "'row_id' (--drop leaves them out without this warning)"]
    expected = joblib.load(model_path).predict(frame.drop(columns="label"))
    assert pd.read_csv(preds)["prediction"].astype(str).tolist() == list(map(str, expected))


def test_cli_fit_drops_columns_before_checking_them(csv_file, tmp_path, capsys):
    data, model_path = tmp_path / "d.csv", tmp_path / "m.joblib"
    # An identifier, and a column that could not be used: both left out.
    pd.read_csv(csv_file).assign(row_id=range(60), notes=np.nan).to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "label", "--trials", "1", "--families",
                 "linear", "--cv", "3", "--drop", "row_id", "notes", "--out", str(model_path),
                 "--quiet"]) == EXIT_OK
    model = joblib.load(model_path)
    assert list(model.feature_names_in_) == list(pd.read_csv(csv_file).columns.drop("label"))
    capsys.readouterr()
    assert main(["predict", str(model_path), str(data), "--drop", "row_id", "notes", "--out",
                 str(tmp_path / "p.csv")]) == EXIT_OK
    assert capsys.readouterr().err == ""
    # A saved row index (pandas' to_csv with its index) is named, and --drop takes it.
    indexed = tmp_path / "indexed.csv"
    pd.read_csv(csv_file).to_csv(indexed)
    for options, err in ((["--trials", "1"], [
            f"automl-meta fit: warning: column 'Unnamed: 0' has no name in {indexed} and a "
            "different whole number in every row, as a saved row index has; it is used as a "
            "feature unless left out with --drop 'Unnamed: 0'"]),
            (["--trials", "1", "--drop", "Unnamed: 0"], [])):
        assert main(["fit", str(indexed), "--target", "label", "--families", "linear",
                     "--cv", "3", "--quiet", *options]) == EXIT_OK
        assert capsys.readouterr().err.splitlines() == err


def test_cli_every_trial_failing_exits_1(csv_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(estimators, "evaluate", lambda family, params, *a, **k: (
        EvaluationResult(family, params, "roc_auc", "failed", error="ValueError: no")))
    code = main(["fit", str(csv_file), "--target", "label", "--trials", "1", "--families",
                 "linear", "--out", str(tmp_path / "m.joblib"), "--quiet"])
    assert code == EXIT_FAILED
    assert "every trial failed" in _no_traceback(capsys)
    assert not (tmp_path / "m.joblib").exists()


def test_cli_fit_groups_by_a_column_that_predict_then_drops(tmp_path, capsys):
    X, y, groups = _grouped_copies()
    data, model_path = tmp_path / "grouped.csv", tmp_path / "model.joblib"
    X.assign(patient=[f"p{g}" for g in groups], target=y).to_csv(data, index=False)
    argv = ["fit", str(data), "--trials", "1", "--families", "knn", "--ensemble-size", "1",
            "--cv", "5", "--no-meta", "--quiet"]
    assert main(argv) == EXIT_OK
    leaky = capsys.readouterr().out
    assert main([*argv, "--groups", "patient", "--out", str(model_path)]) == EXIT_OK
    grouped = capsys.readouterr().out
    assert "200 rows x 5 features" in leaky and "200 rows x 4 features, classification, " \
        "40 groups" in grouped
    score = {name: float(out.split("roc_auc ")[1].split()[0])
             for name, out in (("leaky", leaky), ("grouped", grouped))}
    assert score["leaky"] > 0.9 > 0.75 > score["grouped"]  # as in the estimator's own test
    assert "(5-fold CV by patient)" in grouped
    assert joblib.load(model_path).n_features_in_ == 4
    preds = tmp_path / "preds.csv"
    assert main(["predict", str(model_path), str(data), "--out", str(preds),
                 "--drop", "patient"]) == EXIT_OK
    assert len(pd.read_csv(preds)) == 200


def test_cli_fit_takes_a_holdout_share_and_refuses_other_cv(csv_file, capsys):
    code = main(["fit", str(csv_file), "--target", "label", "--trials", "2", "--families",
                 "linear", "--cv", "0.25", "--no-meta", "--quiet"])
    assert code == EXIT_OK and "(a 25% holdout)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:  # argparse's own usage error
        main(["fit", str(csv_file), "--target", "label", "--cv", "most"])
    assert exit_.value.code == EXIT_USAGE
    assert "expected auto, an integer or a float, got 'most'" in _no_traceback(capsys)


def test_cli_fit_searches_a_subsample_with_search_rows(csv_file, capsys):
    n_rows = len(pd.read_csv(csv_file))
    code = main(["fit", str(csv_file), "--target", "label", "--trials", "2", "--families",
                 "linear", "--cv", "2", "--no-meta", "--quiet", "--search-rows", "40"])
    assert code == EXIT_OK
    assert "(2-fold CV, on a subsample of 40 rows)" in capsys.readouterr().out
    assert main(["fit", str(csv_file), "--target", "label", "--trials", "1", "--families",
                 "linear", "--no-meta", "--quiet", "--search-rows", "all"]) == EXIT_OK
    assert "subsample" not in capsys.readouterr().out and n_rows > 40
    with pytest.raises(SystemExit) as exit_:
        main(["fit", str(csv_file), "--target", "label", "--search-rows", "half"])
    assert exit_.value.code == EXIT_USAGE
    assert "expected auto, all or an integer, got 'half'" in _no_traceback(capsys)


def test_cli_fit_without_out_prints_the_leaderboard_and_writes_nothing(csv_file, tmp_path,
                                                                       capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.iterdir())
    code = main(["fit", str(csv_file), "--target", "label", "--trials", "2", "--families",
                 "linear", "--cv", "2", "--no-meta", "--quiet", "--ensemble-size", "1"])
    assert code == EXIT_OK
    out = capsys.readouterr().out
    assert "(2-fold CV)" in out and "not saved (pass --out PATH to keep it)" in out
    assert "ensemble" not in out
    assert set(tmp_path.iterdir()) == before


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_ensemble_selection_blends_the_best_trials(task):
    X = mixed_frame(120, seed=3)
    y = mixed_target(X, task, seed=3)
    cls = AutoMetaClassifier if task == "classification" else AutoMetaRegressor
    single = cls(n_trials=6, families=["linear", "knn"], ensemble_size=1, **FAST).fit(X, y)
    model = cls(n_trials=6, families=["linear", "knn"], ensemble_size=8, **FAST).fit(X, y)
    ensemble = model.ensemble_
    assert ensemble["weight"].sum() == pytest.approx(1.0)
    assert set(ensemble["trial"]) <= set(model.leaderboard_["trial"])
    # Ensembling changes nothing in the search (same seed, same trials).
    assert list(model.leaderboard_["trial"]) == list(single.leaderboard_["trial"])
    assert np.isfinite(model.ensemble_score_)
    assert len(single.ensemble_) == 1 and single.ensemble_score_ == single.best_score_
    if len(ensemble) > 1:
        assert isinstance(model.best_estimator_, estimators.WeightedEnsemble)
    predictions = model.predict(X)
    assert predictions.shape == (len(X),)
    if task == "classification":
        proba = model.predict_proba(X)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert set(predictions) <= set(model.classes_)
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(loaded.predict(X), predictions)


@pytest.mark.parametrize("rows, features, budget, expected", [
    (500, 10, 30, 5),  # small: cross-validated
    (20_000, 10, 30, 0.1),  # 222k cells at 30 s (FLAML's limit ~83k): holdout
    (20_000, 10, 120, 5),  # ... but 120 s allow 333k cells
    (20_000, 10, None, 5),  # no budget: cross-validated
    (120_000, 2, 3600, 0.1),  # 100,000 rows or more: holdout
    (8_000, 100, 30, 5),  # a 10% holdout would validate on fewer than 1,000 rows
    # ... and on such rows, more cells than 32,000 a second of budget: 3 folds
    (2_000, 2_000, 60, 3),  # 4 million cells, 1.92 million allowed at 60 s
    (2_000, 2_000, 150, 5),  # ... 4.8 million at 150 s
    (2_000, 2_000, None, 5),
    (8_000, 121, 30, 3),  # 968,000 cells, 960,000 allowed at 30 s
])
def test_auto_cv_holds_out_or_takes_3_folds_when_the_budget_cannot_cross_validate(
        rows, features, budget, expected):
    dataset = make_dataset(pd.DataFrame(np.zeros((rows, features))), np.arange(rows) % 2)
    assert estimators._resolve_cv("auto", dataset, budget) == expected
    assert estimators._resolve_cv(3, dataset, budget) == 3
    assert estimators._resolve_cv(0.3, dataset, budget) == 0.3


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_holdout_search_scores_one_split_and_ensembles_on_its_rows(task):
    X = mixed_frame(120, seed=3)
    y = mixed_target(X, task, seed=3)
    cls = AutoMetaClassifier if task == "classification" else AutoMetaRegressor
    model = cls(n_trials=6, families=["linear", "knn"], ensemble_size=8,
                **{**FAST, "cv": 0.25}).fit(X, y)
    assert model.cv_ == 0.25
    ok = model.leaderboard_[model.leaderboard_["status"] == "ok"]
    assert len(ok) >= 2
    assert all(len(t.user_attrs["fold_scores"]) == 1 for t in model.study_.trials
               if t.user_attrs.get("status") == "ok")
    # The blend is scored on the 30 validation rows, never on NaN out-of-split rows.
    assert np.isfinite(model.ensemble_score_)
    assert model.ensemble_score_ >= model.best_score_ if task == "classification" \
        else model.ensemble_score_ <= model.best_score_
    assert model.predict(X).shape == (len(X),)
    assert cls(n_trials=1, families=["linear"], **FAST).fit(X, y).cv_ == 3


@pytest.mark.parametrize("rows, features, budget, search_rows, cv, expected", [
    (64_000, 20, 10, "auto", "auto", 16_000),  # 320k cells allowed at 10 s: 16,000 rows
    (63_999, 20, 10, "auto", "auto", None),  # ... on data 4 times that, not nearer
    (400_000, 100, 10, "auto", "auto", 10_000),  # never fewer than 10,000 rows
    (64_000, 20, None, "auto", "auto", None),  # no budget: all rows
    (64_000, 20, 10, "auto", [([0], [1])], None),  # splits given as positions: all rows
    (64_000, 20, 10, None, "auto", None),
    (20_000, 20, None, 500, 3, 500),  # an integer applies with or without a budget
    (400, 20, None, 500, 3, None),
])
def test_search_rows_caps_the_trials_rows_for_the_budget(rows, features, budget, search_rows,
                                                         cv, expected):
    dataset = make_dataset(pd.DataFrame(np.zeros((rows, features))), np.arange(rows) % 2)
    assert estimators._search_rows(search_rows, dataset, budget, cv) == expected


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_search_on_a_subsample_refits_on_all_rows(task, monkeypatch):
    X = mixed_frame(600, seed=4)
    y = mixed_target(X, task, seed=4)
    seen = []

    def spy(family, params, dataset, *args, sample_weight=None, **kwargs):
        seen.append((dataset.n_rows, None if sample_weight is None else len(sample_weight)))
        return evaluate(family, params, dataset, *args, sample_weight=sample_weight, **kwargs)

    monkeypatch.setattr(estimators, "evaluate", spy)
    cls = AutoMetaClassifier if task == "classification" else AutoMetaRegressor
    groups = np.arange(len(X)) % 50
    model = cls(n_trials=3, families=["knn"], ensemble_size=4, search_rows=150,
                **FAST).fit(X, y, groups=groups)
    assert abs(model.search_rows_ - 150) <= 1  # stratified: a row more or less
    assert seen == [(model.search_rows_, None)] * 3  # every trial ran on the subsample
    fitted = model.best_estimator_
    members = fitted.estimators if hasattr(fitted, "estimators") else [fitted]
    knn = [getattr(m[-1], "regressor_", m[-1]) for m in members]  # a target transform
    assert all(k.n_samples_fit_ == 600 for k in knn)  # refit on every row
    again = cls(n_trials=3, families=["knn"], ensemble_size=4, search_rows=150,
                **FAST).fit(X, y, groups=groups)
    same = ["trial", "family", "score"]  # the same rows, so the same scores
    pd.testing.assert_frame_equal(again.leaderboard_[same], model.leaderboard_[same])
    seen.clear()
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(X))
    weighted = cls(n_trials=2, families=["linear"], search_rows=150, **FAST).fit(
        X, y, sample_weight=weights)
    assert seen == [(weighted.search_rows_, weighted.search_rows_)] * 2  # weights follow


@pytest.mark.parametrize("search_rows, cv, message", [
    ("all", "auto", "search_rows must be 'auto', an integer >= 2 or None"),
    (1, "auto", "search_rows must be"),
    (True, "auto", "search_rows must be"),
    (100, [(np.arange(50), np.arange(50, 90))], "positions of all rows"),
])
def test_search_rows_is_checked(cls_data, search_rows, cv, message):
    X, y = cls_data
    with pytest.raises(ValueError, match=message):
        AutoMetaClassifier(n_trials=1, **{**FAST, "cv": cv, "search_rows": search_rows}).fit(X, y)


def test_the_refit_is_of_the_best_trial_that_can_be_refit_in_time():
    board = pd.DataFrame({"trial": [3, 1, 2, 0], "status": ["ok", "ok", "ok", "failed"],
                          "score": [0.9, 0.8, 0.7, math.nan]})
    refits = {3: 50.0, 1: 12.0, 2: 4.0, 0: math.nan}
    pick = estimators._deliverable
    assert list(pick(board, refits, None, None)["trial"]) == [3, 1, 2]  # no budget: all
    assert list(pick(board, refits, 60.0, 100)["trial"]) == [3, 1, 2]
    # 5% of the budget past the time left is allowed: 12 s in 8 s + 5 s, not 50 s.
    assert list(pick(board, refits, 8.0, 100)["trial"]) == [1, 2]
    assert list(pick(board, refits, 1.0, 20)["trial"]) == [2]  # 4 s in 1 s + 1 s: none,
    assert list(pick(board, refits, -3.0, 20)["trial"]) == [2]  # so the quickest


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_a_trial_that_could_not_be_refit_in_time_is_delivered_as_its_fold_models(
        task, monkeypatch, tmp_path, capsys):
    # Each trial is told the seconds to the deadline and its slack; here every refit
    # "would end past them", so each trial keeps its fold models, delivered averaged
    # instead of refit.
    asked = []

    def spy(*args, return_models=False, **kwargs):
        asked.append(return_models)
        return evaluate(*args, return_models=1e-9 if return_models else False, **kwargs)

    monkeypatch.setattr(estimators, "evaluate", spy)
    budgets, made = [], estimators._Budget

    def kept(*args, **kwargs):
        budgets.append(made(*args, **kwargs))
        return budgets[-1]

    monkeypatch.setattr(estimators, "_Budget", kept)
    X = mixed_frame(120, seed=2)
    y = mixed_target(X, task, seed=2)
    cls = AutoMetaClassifier if task == "classification" else AutoMetaRegressor
    model = cls(time_budget=60, n_trials=3, families=["linear", "knn"], cv=3, ensemble_size=3,
                random_state=0, knowledge_base=False).fit(X, y)
    # The first trial starts with a little under 60 s left, and the slack is 3 s.
    assert len(asked) == 3 and 60 < asked[0] < 63 and all(0 < s < 63 for s in asked)
    # The search keeps back no time to refit trials it holds the fold models of.
    assert len(budgets[0].held) == 3 and budgets[0].reserve == 0
    assert not model.ensemble_["refit"].any()
    fitted = model.best_estimator_
    members = [fitted] if len(model.ensemble_) == 1 else fitted.estimators_
    for member in members:
        assert isinstance(member, estimators.WeightedEnsemble)
        assert len(member.estimators_) == 3 and np.allclose(member.weights_, 1 / 3)
    bag = members[0]
    if task == "classification":
        expected = np.mean([m.predict_proba(X) for m in bag.estimators_], axis=0)
        np.testing.assert_allclose(bag.predict_proba(X), expected)
    else:
        expected = np.mean([m.predict(X) for m in bag.estimators_], axis=0)
        np.testing.assert_allclose(bag.predict(X), expected)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    # The command line says which trials were not refit.
    data = tmp_path / "train.csv"
    X.assign(label=y).to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "label", "--time", "60", "--trials", "2",
                 "--families", "linear", "--cv", "3", "--no-meta"]) == EXIT_OK
    assert re.search(r"not refit: linear \(trial \d\) could not have been refit on all rows "
                     r"within the time budget; its fold models are averaged instead",
                     capsys.readouterr().out)
    # Without a budget, or with trials on a subsample, no trial keeps its models.
    asked.clear()
    unbudgeted = cls(n_trials=2, families=["linear"], **FAST).fit(X, y)
    subsampled = cls(time_budget=60, n_trials=2, families=["linear"], cv=3, search_rows=60,
                     random_state=0, knowledge_base=False).fit(X, y)
    assert asked == [False] * 4
    assert unbudgeted.ensemble_["refit"].all() and subsampled.ensemble_["refit"].all()


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_a_first_trial_too_slow_for_the_budget_is_delivered_as_its_folds_done(
        task, monkeypatch, tmp_path, capsys):
    # The first trial's first fold projects it past any limit, and so its refit past any
    # time left (as where its limit is the time left); run in this process (no worker to
    # stop it during the fold), it stops after that fold. With nothing to fall back on,
    # that fold scores it and its model is delivered.
    asked = []

    def spy(*args, time_limit=None, projected_limit=None, partial=False, **kwargs):
        asked.append(partial)
        if len(asked) == 1:
            kwargs["return_models"] = 1e-9 if kwargs["return_models"] else False
            return evaluate(*args, projected_limit=1e-9, partial=partial, **kwargs)
        return evaluate(*args, time_limit=time_limit, projected_limit=projected_limit,
                        partial=partial, **kwargs)

    monkeypatch.setattr(estimators, "evaluate", spy)
    X = mixed_frame(120, seed=3)
    y = mixed_target(X, task, seed=3)
    cls = AutoMetaClassifier if task == "classification" else AutoMetaRegressor
    options = dict(time_budget=60, families=["linear"], cv=3, random_state=0,
                   knowledge_base=False)
    model = cls(n_trials=1, **options).fit(X, y)
    trial = model.study_.trials[0]
    assert trial.user_attrs["status"] == "ok" and len(trial.user_attrs["fold_scores"]) == 1
    assert model.leaderboard_["error"].iloc[0].startswith(
        "scored on 1 of 3 folds, delivered as their models: stopped after 1 of 3 folds")
    assert model.best_score_ == trial.user_attrs["fold_scores"][0]
    assert list(model.ensemble_["refit"]) == [False]
    bag = model.best_estimator_
    assert isinstance(bag, estimators.WeightedEnsemble) and len(bag.estimators_) == 1
    np.testing.assert_array_equal(model.predict(X), bag.estimators_[0].predict(X))
    # Only the first trial may end so; with an ensemble its folds done give no
    # out-of-fold predictions to blend, and the ensemble draws on the other trials.
    asked.clear()
    blended = cls(n_trials=3, ensemble_size=5, **options).fit(X, y)
    assert asked == [True, False, False]
    assert (blended.leaderboard_["status"] == "ok").all()
    assert set(blended.ensemble_["trial"]) <= {0, 1, 2}
    # The command line says so.
    asked.clear()
    data = tmp_path / "train.csv"
    X.assign(label=y).to_csv(data, index=False)
    assert main(["fit", str(data), "--target", "label", "--time", "60", "--trials", "1",
                 "--families", "linear", "--cv", "3", "--no-meta"]) == EXIT_OK
    assert re.search(r"not refit: linear \(trial 0\) .* averaged instead \(scored on 1 of 3 "
                     r"folds", capsys.readouterr().out)
    # On a subsample each configuration is refit on all rows: a first trial so stopped
    # fails there, as any other.
    asked.clear()
    with pytest.raises(estimators.SearchFailedError, match="stopped after 1 of 3 folds"):
        cls(n_trials=1, search_rows=60, **options).fit(X, y)
    assert asked == [False]


def test_the_refits_have_what_the_search_kept_back_for_them():
    assert estimators._Budget(None, None, 1.0).refit_time() is None
    budget = estimators._Budget(time.monotonic() + 10, 30.0, 1.0)
    budget.reserve = 4.0
    assert 9 < budget.refit_time() <= 10  # to the deadline
    # The last trial ended past the deadline: the refits still have the time kept back.
    budget.deadline = time.monotonic() - 2
    assert budget.refit_time() == 4.0


def test_fit_gives_the_refit_choice_and_the_ensemble_the_budget_s_refit_time(
        cls_data, monkeypatch):
    # A value no clock gives: fit must pass what refit_time() says, not the time left.
    monkeypatch.setattr(estimators._Budget, "refit_time", lambda self: 987.0)
    seen = {}

    def spy(name):
        real = getattr(estimators, name)

        def call(*args, **kwargs):
            seen[name] = inspect.signature(real).bind(*args, **kwargs).arguments["refit_time"]
            return real(*args, **kwargs)
        return call

    for name in ("_deliverable", "_caruana"):
        monkeypatch.setattr(estimators, name, spy(name))
    X, y = cls_data
    AutoMetaClassifier(**{**FAST, "time_budget": 60}, n_trials=3, families=["linear", "knn"],
                       ensemble_size=3).fit(X, y)
    assert seen == {"_deliverable": 987.0, "_caruana": 987.0}


def test_auto_cv_takes_fewer_folds_when_a_class_has_fewer_rows_than_folds():
    # Binary data with 3 rows of one class: 5 stratified folds leave one or more validating
    # on the other class alone, where ROC AUC is undefined and every trial would fail.
    X = mixed_frame(90)
    y = pd.Series(np.where(np.arange(90) % 30 == 0, "rare", "common"))
    with pytest.warns(UserWarning, match=r"cv='auto': 3 folds instead of 5 folds, so that every "
                                         r"fold validates on both classes \(class 'rare' "
                                         r"has 3 rows\)"):
        model = AutoMetaClassifier(**{**FAST, "cv": "auto", "n_trials": 2}).fit(X, y)
    assert model.cv_ == 3
    assert (model.leaderboard_["status"] == "ok").all()
    # A holdout (cv="auto" on data too large to cross-validate in the budget) that misses
    # the class: folds instead.
    big = pd.DataFrame(np.arange(20_000.0)[:, None] % [7, 11, 13, 17, 19, 23]).add_prefix("x")
    rare = pd.Series(np.where(np.arange(20_000) % 5_000 == 0, "rare", "common"))  # 4 rows
    with pytest.warns(UserWarning, match=r"cv='auto': 4 folds instead of a 10% holdout"):
        model = AutoMetaClassifier(time_budget=30, n_trials=1, families=["linear"],
                                   ensemble_size=1, knowledge_base=False, random_state=0
                                   ).fit(big, rare)
    assert model.cv_ == 4
    # Other metrics are defined on one class: the folds stay as asked.
    model = AutoMetaClassifier(**{**FAST, "cv": "auto", "n_trials": 1,
                                  "metric": "log_loss"}).fit(X, y)
    assert model.cv_ == 5


def _grouped_copies(n_groups: int = 40, copies: int = 5, seed: int = 0):
    """Rows copied within groups, labels random per group: a row's copies give away its
    label, so a validation that splits groups scores near 1 and one that keeps them
    together near chance (0.5)."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_groups), copies)
    X = pd.DataFrame(rng.normal(size=(n_groups, 4))[groups], columns=list("abcd"))
    y = pd.Series(rng.integers(0, 2, n_groups)[groups])
    return X, y, groups


def test_groups_are_never_split_between_training_and_validation():
    X, y, groups = _grouped_copies()
    knn = {**FAST, "n_trials": 1, "families": ["knn"], "ensemble_size": 1, "cv": 5}
    leaky = AutoMetaClassifier(**knn).fit(X, y)
    assert leaky.best_score_ > 0.9  # the copies of each validation row were trained on
    # (A GroupKFold of 5 would here validate one fold on a single class: no ROC AUC.)
    for cv in (5, "auto", StratifiedGroupKFold(5, shuffle=True, random_state=0), 0.3):
        grouped = AutoMetaClassifier(**{**knn, "cv": cv}).fit(X, y, groups=groups)
        assert grouped.best_score_ < 0.75, cv
    folds = make_folds(make_dataset(X, y), 5, seed=0, groups=groups)
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
    # Group folds stay stratified: every fold validates on both classes.
    assert all(len(set(y[test])) == 2 for _, test in folds)
    regression = make_folds(make_dataset(X, y.astype(float) + X["a"]), 5, seed=0,
                            groups=groups)
    assert all(not set(groups[train]) & set(groups[test]) for train, test in regression)
    # Labels of mixed types, which do not sort (scikit-learn's group folds sort them).
    mixed = np.array([int(g) if g % 2 == 0 else str(g) for g in groups], dtype=object)
    assert [len(test) for _, test in make_folds(make_dataset(X, y), 5, seed=0,
                                                groups=mixed)] == [40] * 5
    [(train, test)] = make_folds(make_dataset(X, y.astype(float) + X["a"]), 0.25, seed=0,
                                 groups=groups)
    assert not set(groups[train]) & set(groups[test]) and len(set(groups[test])) == 10
    # A holdout of groups is stratified too: the 4 groups of the rare class are not all
    # left out of validation, as an unstratified draw of 10 of the 40 groups does 30% of
    # the time.
    rare = pd.Series((groups % 10 == 0).astype(int))
    for seed in range(10):
        [(train, test)] = make_folds(make_dataset(X, rare), 0.25, seed=seed, groups=groups)
        assert not set(groups[train]) & set(groups[test])
        assert set(rare[test]) == {0, 1} and len(test) == 50


def test_a_splitter_or_given_splits_validate_every_trial():
    X = mixed_frame(120, seed=3)
    y = mixed_target(X, "regression", seed=3)
    model = AutoMetaRegressor(n_trials=5, families=["linear", "knn"], ensemble_size=5,
                              **{**FAST, "cv": TimeSeriesSplit(3)}).fit(X, y)
    # Under a time budget the trials run in worker processes, which get the splits too.
    budgeted = AutoMetaRegressor(n_trials=2, families=["linear"], ensemble_size=1,
                                 **{**FAST, "time_budget": 30, "cv": TimeSeriesSplit(3)}
                                 ).fit(X, y)
    for fitted in (model, budgeted):
        assert isinstance(fitted.cv_, TimeSeriesSplit)
        assert all(len(t.user_attrs["fold_scores"]) == 3 for t in fitted.study_.trials
                   if t.user_attrs.get("status") == "ok")
    # The first 30 rows are never validated: the blend is scored on the other 90.
    assert np.isfinite(model.ensemble_score_)
    assert model.predict(X).shape == (len(X),)
    # Given splits are used as they are: the same fold scores as the folds they copy.
    dataset = make_dataset(X, y)
    params = default_params("knn", "regression")
    splits = make_folds(dataset, 4, seed=7)
    assert evaluate("knn", params, dataset, cv=splits, seed=7).fold_scores == \
        evaluate("knn", params, dataset, cv=4, seed=7).fold_scores
    given = AutoMetaRegressor(n_trials=1, families=["knn"], ensemble_size=1,
                              **{**FAST, "cv": splits}).fit(X, y)
    seed = int(np.random.RandomState(0).randint(np.iinfo(np.int32).max))  # fit's own
    assert given.study_.trials[0].user_attrs["fold_scores"] == \
        evaluate("knn", params, dataset, cv=splits, seed=seed).fold_scores["rmse"]
    for fitted in (model, given):  # splitters and splits are kept in the saved model
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).predict(X),
                                      fitted.predict(X))


def _two_populations(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series, np.ndarray]:
    """Rows of population A (a third) follow y = x > 0, those of B the opposite; nothing in
    X tells them apart. Weights of 1 on A and 0.01 on B make A's rule the one to learn."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    in_a = np.arange(n) % 3 == 0
    y = pd.Series(np.where((x > 0) == in_a, "pos", "neg"))
    return pd.DataFrame({"x": x, "noise": rng.normal(size=n)}), y, np.where(in_a, 1.0, 0.01)


def test_sample_weight_steers_the_search_the_ensemble_and_the_refit():
    X, y, weights = _two_populations(300, seed=0)
    X_new = pd.DataFrame({"x": np.linspace(-0.95, 0.95, 40), "noise": 0.0})
    rule_a = np.where(X_new["x"] > 0, "pos", "neg")
    plain = AutoMetaClassifier(n_trials=3, families=["linear", "lightgbm"], **FAST).fit(X, y)
    weighted = AutoMetaClassifier(n_trials=3, families=["linear", "lightgbm"], **FAST).fit(
        X, y, sample_weight=weights)
    assert np.mean(plain.predict(X_new) == rule_a) < 0.2  # B's rule: the majority's
    assert np.mean(weighted.predict(X_new) == rule_a) > 0.9
    # The scores are weighted too: A's rule scores high on the weighted rows (B's rule
    # unweighted scores about 2/3, B's share).
    assert plain.best_score_ < 0.8 < 0.9 < weighted.best_score_
    # Ensemble selection scores the pooled out-of-fold predictions with the weights:
    # unweighted, A's rule would score about 1/3 there.
    assert plain.ensemble_score_ < 0.8 < 0.9 < weighted.ensemble_score_
    assert weighted.study_.user_attrs["weighted"] is True
    # Without families named, k-NN (which cannot weigh rows) is not searched.
    auto = AutoMetaClassifier(n_trials=1, ensemble_size=1, **FAST).fit(X, y,
                                                                       sample_weight=weights)
    choices = auto.study_.trials[0].distributions["family"].choices
    assert "knn" not in choices and len(choices) == len(estimators.FAMILIES) - 1


def test_sample_weight_reaches_trials_in_worker_processes():
    X, y, weights = _two_populations(150, seed=1)
    dataset = make_dataset(X, y)
    splits = make_folds(dataset, 3, seed=5)
    params = default_params("linear", "classification")
    expected = evaluate("linear", params, dataset, cv=splits, sample_weight=weights)
    unweighted = evaluate("linear", params, dataset, cv=splits)
    assert expected.fold_scores["roc_auc"] != unweighted.fold_scores["roc_auc"]
    # Under a time budget the trial runs in a worker process; the linear model's fit does
    # not depend on the seed.
    model = AutoMetaClassifier(n_trials=1, families=["linear"], ensemble_size=1,
                               **{**FAST, "time_budget": 30, "cv": splits}).fit(
        X, y, sample_weight=weights)
    assert model.study_.trials[0].user_attrs["fold_scores"] == pytest.approx(
        expected.fold_scores["roc_auc"])


def test_cli_fit_and_evaluate_weigh_rows_by_a_column(tmp_path, capsys):
    X, y, weights = _two_populations(150, seed=2)
    data = tmp_path / "weighted.csv"
    X.assign(w=weights, target=y).to_csv(data, index=False)
    argv = ["fit", str(data), "--trials", "1", "--families", "linear", "--ensemble-size", "1",
            "--cv", "3", "--no-meta", "--quiet"]
    assert main(argv) == EXIT_OK
    plain = capsys.readouterr().out
    assert main([*argv, "--weights", "w"]) == EXIT_OK
    weighted = capsys.readouterr().out
    assert "150 rows x 2 features, classification, weighted by w" in weighted
    score = {name: float(out.split("roc_auc ")[1].split()[0])
             for name, out in (("plain", plain), ("weighted", weighted))}
    assert score["plain"] < 0.8 < 0.9 < score["weighted"]
    assert main(["evaluate", str(data), "--family", "linear", "--cv", "3", "--weights", "w",
                 "--json"]) == EXIT_OK
    result = json.loads(capsys.readouterr().out)
    assert np.mean(result["fold_scores"]["roc_auc"]) > 0.9


def test_a_metric_of_your_own_drives_the_search_and_saves_with_the_model(tmp_path):
    X = mixed_frame(120, seed=4)
    y = mixed_target(X, "regression", seed=4)
    # A cost: lower is better. Under-predicting costs four times what over-predicting does.
    cost = make_metric("cost", lambda t, p, sample_weight=None: float(np.average(
        np.where(p < t, 4.0, 1.0) * np.abs(p - t), weights=sample_weight)), "regression",
        greater_is_better=False)
    model = AutoMetaRegressor(n_trials=3, families=["linear", "lightgbm"], metric=cost,
                              **{**FAST, "time_budget": 60}).fit(X, y)
    board = model.leaderboard_
    assert np.all(np.diff(board["score"].to_numpy()) >= 0)  # a cost: best first, lowest
    assert model.study_.user_attrs["metric"] == "cost"
    best = model.study_.trials[int(board["trial"].iloc[0])]
    assert model.best_score_ == pytest.approx(np.mean(best.user_attrs["fold_scores"]))
    # The trials ran in worker processes (a time budget), with the lambda: the same scores
    # as here.
    seed = int(np.random.RandomState(0).randint(np.iinfo(np.int32).max))  # fit's own
    dataset = make_dataset(X, y)
    params = {k: v for k, v in model.best_params_.items() if k != "family"}
    assert best.user_attrs["fold_scores"] == pytest.approx(evaluate(
        model.best_params_["family"], params, dataset, metric=cost,
        cv=make_folds(dataset, 3, seed=seed), seed=seed).fold_scores["cost"])
    # The fitted model, lambda and all, saves and loads; clone keeps the metric.
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert loaded.metric.name == clone(model).metric.name == "cost"
    assert "<lambda>" in repr(model)  # the function shows, not its wrapper


def test_cli_fit_and_evaluate_take_a_metric_of_your_own_from_a_python_file(tmp_path, capsys):
    X = mixed_frame(120, seed=4)
    data = tmp_path / "data.csv"
    X.assign(target=mixed_target(X, "regression", seed=4)).to_csv(data, index=False)
    metrics = tmp_path / "my_metrics.py"
    metrics.write_text(
        "import numpy as np\n"
        "from automl_meta.evaluation import make_metric\n\n"
        "def _cost(t, p):  # under-predicting costs four times what over-predicting does\n"
        "    return float(np.mean(np.where(p < t, 4.0, 1.0) * np.abs(p - t)))\n\n"
        "cost = make_metric('cost', _cost, 'regression', greater_is_better=False)\n")
    model_path = tmp_path / "model.joblib"
    # A time budget: the trials run in worker processes, which get the function by value.
    assert main(["fit", str(data), "--time", "60", "--trials", "3", "--families", "linear",
                 "lightgbm", "--cv", "3", "--no-meta", "--metric", f"{metrics}:cost",
                 "--out", str(model_path)]) == EXIT_OK
    out = capsys.readouterr().out
    model = joblib.load(model_path)
    assert model.study_.user_attrs["metric"] == "cost"
    assert f"cost {model.best_score_:.4f} (3-fold CV)" in out
    assert np.all(np.diff(model.leaderboard_["score"].to_numpy()) >= 0)  # lowest first
    assert main(["evaluate", str(data), "--family", "linear", "--metric", f"{metrics}:cost",
                 "--cv", "3"]) == EXIT_OK
    assert "*cost" in capsys.readouterr().out
    # predict scores a file holding the target with the model's own metric.
    preds = tmp_path / "p.csv"
    assert main(["predict", str(model_path), str(data), "--out", str(preds)]) == EXIT_OK
    frame = pd.read_csv(data)
    cost = model.metric(frame["target"], pd.read_csv(preds)["prediction"])
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"cost on the 120 rows of data.csv: {cost:.4f}")
    metrics.unlink()  # the saved model holds the function itself
    preds = tmp_path / "preds.csv"
    assert main(["predict", str(model_path), str(data), "--out", str(preds)]) == EXIT_OK
    assert len(pd.read_csv(preds)) == 120


def test_a_metric_of_your_own_that_fails_on_the_blends_leaves_the_best_trial_alone():
    X = mixed_frame(120, seed=5)
    y = mixed_target(X, "classification", seed=5)

    def fold_accuracy(t, p):  # scores a fold (40 rows), raises on the pooled 120
        if len(t) > 60:
            raise TypeError("only folds, please")
        return float(np.mean(np.asarray(t) == np.asarray(p)))

    metric = make_metric("fold_accuracy", fold_accuracy, "classification")
    with pytest.warns(RuntimeWarning, match=r"metric 'fold_accuracy' raised TypeError on a "
                      r"blend of out-of-fold predictions.*only folds, please"):
        model = AutoMetaClassifier(n_trials=4, families=["linear", "random_forest"],
                                   metric=metric, **FAST).fit(X, y)
    assert (model.leaderboard_["status"] == "ok").all()
    assert len(model.ensemble_) == 1
    assert model.ensemble_["trial"].iloc[0] == model.leaderboard_["trial"].iloc[0]
    assert model.ensemble_score_ == model.best_score_
    # A blend a built-in metric refuses (ValueError) is left out quietly.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(estimators._blend_score(get_metric("rmse", "regression"),
                                                  np.ones(2), np.array([1.0, np.nan]),
                                                  None, None))


@pytest.fixture
def python_sigint():
    """Python's own SIGINT handler, as in a terminal or a notebook. A process started in
    the background by a shell (as CI may be) ignores SIGINT, and so would these tests."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _interrupt_after(number: int, times: int = 1):
    """A callback that sends this process Ctrl-C (SIGINT) ``times`` after trial ``number``."""
    def callback(study, trial):
        if trial.number == number:
            for _ in range(times):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.1)  # let the handler run
    return callback


@pytest.mark.parametrize("time_budget", [None, 120], ids=["in-process", "worker"])
def test_a_first_ctrl_c_stops_the_search_and_fit_goes_on_with_the_trials_finished(
        time_budget, python_sigint):
    X = mixed_frame(80, seed=6)
    y = mixed_target(X, "classification", seed=6)
    start = time.monotonic()
    with pytest.warns(UserWarning, match=r"the search was interrupted; fit goes on with the "
                                         r"2 trials finished"):
        model = AutoMetaClassifier(**{**FAST, "time_budget": time_budget, "n_trials": 50},
                                   families=["linear", "random_forest"]).fit(
            X, y, callbacks=[_interrupt_after(1)])
    assert time.monotonic() - start < 60
    assert len(model.leaderboard_) == 2 and (model.leaderboard_["status"] == "ok").all()
    assert [t.state for t in model.study_.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert model.predict_proba(X).shape == (80, 2)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_a_second_ctrl_c_interrupts_fit_at_once(python_sigint):
    X = mixed_frame(80, seed=6)
    with pytest.raises(KeyboardInterrupt):
        AutoMetaClassifier(**{**FAST, "n_trials": 50}, families=["linear"]).fit(
            X, mixed_target(X, "classification", seed=6), callbacks=[_interrupt_after(1, 2)])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_caruana_blends_complementary_trials_and_keeps_a_dominant_one():
    y = pd.Series(["a", "b"] * 4)
    dataset = make_dataset(pd.DataFrame({"x": np.arange(8.0)}), y)
    truth = (y == "b").to_numpy(dtype=float)
    # Trials 0 and 1 each rank half of the rows right; their average ranks all right.
    half = np.where(np.arange(8) < 4, truth, 0.5)
    other = np.where(np.arange(8) >= 4, truth, 0.5)
    noisy = np.full(8, 0.5)
    oof = {t: np.column_stack([1 - p, p]) for t, p in enumerate([half, other, noisy])}
    board = pd.DataFrame({"trial": [0, 1, 2], "status": "ok", "score": [0.8, 0.8, 0.5]})
    metric = get_metric("roc_auc", "classification")
    members, score = estimators._caruana(board, oof, dataset, metric, size=6)
    assert set(members) == {0, 1} and score == pytest.approx(1.0)
    members, score = estimators._caruana(board.iloc[[0, 2]], {0: oof[0], 2: oof[2]},
                                         dataset, metric, size=6)
    assert members == {0: 1}  # adding the useless trial never helps: one round kept
    # Under a time budget a second member joins only if its refit fits in the time left.
    refits = {0: 3.0, 1: 3.0, 2: 0.1}
    members, _ = estimators._caruana(board, oof, dataset, metric, size=6,
                                     refit_seconds=refits, refit_time=5.0)
    assert set(members) == {0} or set(members) == {1}  # the first member is always allowed
    members, score = estimators._caruana(board, oof, dataset, metric, size=6,
                                         refit_seconds=refits, refit_time=6.0)
    assert set(members) == {0, 1} and score == pytest.approx(1.0)


def test_out_of_fold_store_keeps_the_best_trials_only(monkeypatch):
    monkeypatch.setattr(estimators, "ENSEMBLE_CANDIDATES", 3)
    store = estimators._OutOfFold()
    for number, loss in enumerate([0.5, 0.1, float("nan"), 0.3, 0.2, 0.9]):
        store.add(number, loss, np.full(4, number))
    assert sorted(store) == [1, 3, 4]  # the three lowest losses; NaN counts as the worst
    np.testing.assert_array_equal(store[3], np.full(4, 3))


def test_out_of_fold_blender_says_whether_a_pair_beats_the_best_alone():
    y = pd.Series(["a", "b"] * 4)
    dataset = make_dataset(pd.DataFrame({"x": np.arange(8.0)}), y)
    truth = (y == "b").to_numpy(dtype=float)
    half = np.where(np.arange(8) < 4, truth, 0.5)  # as in the Caruana test above
    other = np.where(np.arange(8) >= 4, truth, 0.5)
    store = estimators._OutOfFold()
    for number, p in enumerate([half, other, np.full(8, 0.5)]):
        proba = np.column_stack([1 - p, p])
        proba[:2] = np.nan  # rows another split validates: left out of the score
        store.add(number, 0.2, proba)
    blends = store.blender(dataset, get_metric("roc_auc", "classification"), None)
    trial = [optuna.trial.create_trial(value=0.2) for _ in range(4)]
    for number, frozen in enumerate(trial):
        frozen.number = number
    assert blends(trial[0], trial[1])  # complementary: the pair ranks every row right
    assert not blends(trial[0], trial[2])  # a useless trial never helps
    assert not blends(trial[0], trial[3])  # predictions not held: nothing to blend


def test_ensemble_size_is_checked(cls_data):
    X, y = cls_data
    with pytest.raises(ValueError, match="ensemble_size"):
        AutoMetaClassifier(n_trials=1, ensemble_size=0, **FAST).fit(X, y)


def test_budget_keeps_back_the_best_trials_refit_time():
    class Study:  # what the callback reads of a study, and whether it stopped it
        best_trial = optuna.trial.create_trial(value=0.1, user_attrs={"fit_seconds": 8.0})
        trials = [optuna.trial.create_trial(value=0.3, user_attrs={"fit_seconds": 2.0}),
                  best_trial,
                  optuna.trial.create_trial(value=0.2, user_attrs={"fit_seconds": 4.0}),
                  optuna.trial.create_trial(value=0.5, user_attrs={"fit_seconds": 40.0})]
        stopped = False

        def get_trials(self, deepcopy, states):
            return [t for t in self.trials if t.state in states]

        def stop(self):
            self.stopped = True

    study = Study()
    budget = estimators._Budget(time.monotonic() + 60, 60, 4)
    budget(study, study.best_trial)
    assert budget.reserve == pytest.approx(2.0)  # 8 s over 5 folds: a full fit ~ 8 / 4
    assert 57 < budget.remaining() < 58.1 and not study.stopped
    expensive = estimators._Budget(time.monotonic() + 10, 10, 1)
    expensive(study, study.best_trial)
    assert expensive.reserve == 5.0  # capped at half the budget
    holdout = estimators._Budget(time.monotonic() + 60, 60, 0.8)
    holdout(study, study.best_trial)
    assert holdout.reserve == pytest.approx(10.0)  # 8 s on 80% of the rows: ~10 s on all
    ensemble = estimators._Budget(time.monotonic() + 60, 60, 4, members=3)
    ensemble(study, study.best_trial)
    assert ensemble.reserve == pytest.approx((8 + 4 + 2) / 4)  # the best three trials' refits
    # Only trials whose blend with the best helps are kept for: here the 0.2 one.
    picky = estimators._Budget(time.monotonic() + 60, 60, 4, members=3,
                               blends=lambda best, other: other.value == 0.2)
    picky(study, study.best_trial)
    assert picky.reserve == pytest.approx((8 + 4) / 4)
    # A trial delivered as its fold models needs no refit: the best one here.
    for number, trial in enumerate(study.trials):
        trial.number = number
    held = estimators._Budget(time.monotonic() + 60, 60, 4, members=3,
                              held={study.best_trial.number: ["fold models"]})
    held(study, study.best_trial)
    assert held.reserve == pytest.approx((4 + 2) / 4)
    spent = estimators._Budget(time.monotonic() + 1, 1, 1)
    spent(study, study.best_trial)  # 0.5 s kept back
    assert not study.stopped
    time.sleep(0.6)
    spent(study, study.best_trial)
    assert study.stopped


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_refit_uses_n_jobs_threads_not_every_core(cls_data, monkeypatch, n_jobs):
    # OpenMP's default (every core) made a HistGradientBoosting refit 30x slower than its
    # trials on a busy machine and broke the time budget.
    from threadpoolctl import threadpool_info

    seen = []
    real_build = estimators.build_pipeline

    def recording_build(*args, **kwargs):
        pipeline = real_build(*args, **kwargs)
        real_fit = pipeline.fit

        def fit(X, y):
            seen.append({p["user_api"]: p["num_threads"] for p in threadpool_info()})
            return real_fit(X, y)

        pipeline.fit = fit
        return pipeline

    monkeypatch.setattr(estimators, "build_pipeline", recording_build)
    X, y = cls_data
    AutoMetaClassifier(n_trials=1, families=["linear"], n_jobs=n_jobs, **FAST).fit(X, y)
    assert seen and all(threads <= n_jobs for threads in seen[-1].values())


def test_trials_in_this_process_use_one_thread_each(cls_data, monkeypatch):
    # Without a time budget trials run in this process: like the evaluation workers, one
    # thread each (n_jobs trials at once), not OpenMP's every core.
    from threadpoolctl import threadpool_info

    seen = []
    real_evaluate = estimators.evaluate

    def recording_evaluate(*args, **kwargs):
        seen.append({p["user_api"]: p["num_threads"] for p in threadpool_info()})
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(estimators, "evaluate", recording_evaluate)
    X, y = cls_data
    AutoMetaClassifier(n_trials=2, families=["linear"], n_jobs=2, **FAST).fit(X, y)
    assert len(seen) == 2 and all(t == 1 for threads in seen for t in threads.values())
