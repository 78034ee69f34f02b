"""Bad input to every public entry point and CLI command: a specific error naming the problem.

Each row of ``API_CASES`` is one distinct bad input given to a Python entry point, with the
exception type it must raise and a pattern of the message, which must name the problem.
Each row of ``CLI_CASES`` runs a command through :func:`automl_meta.cli.main`: it must
exit with the code given, print the message on stderr and no traceback. Everything is
tiny (a 4-task knowledge base, a meta-learner trained for one step, one-trial searches)
so that the whole file runs in seconds.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import mixed_frame, mixed_target
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GroupKFold
from synthetic import metafeatures_of, synthetic_kb

from automl_meta import (
    AutoMetaClassifier,
    AutoMetaRegressor,
    KnowledgeBase,
    MetaFeatureExtractor,
    MetaLearnedSampler,
    MetaLearner,
    load_dataset,
    recommend,
    warm_start_study,
)
from automl_meta.cli import EXIT_FAILED, EXIT_USAGE, main
from automl_meta.data import Dataset, make_dataset
from automl_meta.evaluation import evaluate, make_metric
from automl_meta.exceptions import (
    DataSourceError,
    DataValidationError,
    InvalidParamsError,
    KnowledgeBaseError,
    KnowledgeBaseVersionError,
    UnknownFamilyError,
    UnknownMetricError,
)
from automl_meta.metadataset.knowledge_base import FORMAT_VERSION
from automl_meta.spaces import default_params

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: One trial, in process, no meta-learning: what a search that fails on its input needs.
FAST = {"n_trials": 1, "time_budget": None, "cv": 2, "families": ["linear"],
        "knowledge_base": False, "random_state": 0}
KNN = default_params("knn", "classification")
UNREACHABLE = "nosuch://nowhere"  # no SQLAlchemy dialect of that name


@dataclass(frozen=True)
class Env:
    """Good inputs that the cases spoil, built once."""

    folder: Path
    X: pd.DataFrame
    y: pd.Series
    dataset: Dataset
    csv: Path  # X with a ``target`` column
    kb: KnowledgeBase
    kb_folder: Path  # kb saved with its metalearner/
    learner: MetaLearner
    model_file: Path  # a fitted AutoMetaClassifier of X and y

    @property
    def metafeatures(self) -> pd.Series:
        return pd.Series(metafeatures_of(np.array([0.3, -0.2])))

    def table(self, **columns) -> pd.DataFrame:
        """X and its target, with columns replaced or added."""
        return self.X.assign(**{"target": self.y, **columns})


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Env:
    folder = tmp_path_factory.mktemp("inputs")
    X = mixed_frame(60)
    y = mixed_target(X, "classification")
    csv = folder / "good.csv"
    X.assign(target=y).to_csv(csv, index=False)
    kb = synthetic_kb(n_tasks=4)
    kb_folder = kb.save(folder / "kb")
    learner = MetaLearner(steps=1, n_members=1, hidden_size=8, device="cpu").fit(kb)
    learner.save(kb_folder / "metalearner")
    model_file = folder / "model.joblib"
    joblib.dump(AutoMetaClassifier(**FAST).fit(X, y), model_file)
    return Env(folder, X, y, make_dataset(X, y), csv, kb, kb_folder, learner, model_file)


# ---------------------------------------------------------------------------------------
# Spoiling files


def _copy(folder: Path, tmp: Path) -> Path:
    return Path(shutil.copytree(folder, tmp / folder.name))


def _truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _edit_json(path: Path, edit: Callable[[dict], object]) -> Path:
    value = json.loads(path.read_text())
    edit(value)
    path.write_text(json.dumps(value))
    return path.parent


def _kb_without_checksums(env: Env, tmp: Path) -> Path:
    folder = _copy(env.kb_folder, tmp)
    _truncate(folder / "evaluations.parquet")
    return _edit_json(folder / "manifest.json", lambda m: m.pop("checksums"))


def _newer_kb(env: Env, tmp: Path) -> Path:
    return _edit_json(_copy(env.kb_folder, tmp) / "manifest.json",
                      lambda m: m.update(format_version=FORMAT_VERSION + 1))


def _learner_copy(env: Env, tmp: Path) -> Path:
    return _copy(env.kb_folder / "metalearner", tmp)


def _without(folder: Path, name: str) -> Path:
    (folder / name).unlink()
    return folder


def _parquet(tmp: Path, frame: pd.DataFrame) -> Path:
    frame.to_parquet(tmp / "data.parquet")
    return tmp / "data.parquet"


def _csv(tmp: Path, frame: pd.DataFrame, name: str = "data.csv") -> Path:
    frame.to_csv(tmp / name, index=False)
    return tmp / name


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _garbage(tmp: Path, name: str = "garbage.csv") -> Path:
    (tmp / name).write_bytes(bytes(range(256)) * 8)
    return tmp / name


def _wide(n_columns: int = 10_000, n_rows: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(n_rows, n_columns)),
                         columns=[f"c{i}" for i in range(n_columns)])
    return frame.assign(target=np.arange(n_rows) % 2)


@contextlib.contextmanager
def _offline_openml(cache: Path):
    """An empty OpenML cache and a server that refuses connections (localhost:9)."""
    import openml

    config = openml.config
    saved = config.server, config._root_cache_directory, config.connection_n_retries
    config.set_root_cache_directory(cache)
    config.server, config.connection_n_retries = "http://127.0.0.1:9/api/v1/xml", 1
    try:
        yield
    finally:
        config.server, config.connection_n_retries = saved[0], saved[2]
        config.set_root_cache_directory(saved[1])


def _openml(tmp: Path, source: str):
    with _offline_openml(tmp / "openml"):
        return load_dataset(source)


def _empty_study_storage() -> optuna.storages.BaseStorage:
    storage = optuna.storages.InMemoryStorage()
    optuna.create_study(storage=storage, study_name="empty")
    return storage


# ---------------------------------------------------------------------------------------
# The Python entry points


def case(id: str, call: Callable[[Env, Path], object], error: type[BaseException],
         match: str):
    return pytest.param(call, error, match, id=id)


API_CASES = [
    # load_dataset
    case("load_dataset-empty-frame", lambda e, t: load_dataset(e.table().iloc[:0]),
         DataValidationError, r"the table has no rows"),
    case("load_dataset-single-class", lambda e, t: load_dataset(e.table(target="c1")),
         DataValidationError, r"single class \('c1'\); classification needs two"),
    case("load_dataset-nan-in-target-csv",
         lambda e, t: load_dataset(_csv(t, e.table(target=e.y.where(e.y.index != 3)))),
         DataValidationError, r"the target has 1 missing values"),
    case("load_dataset-inf-in-regression-target",
         lambda e, t: load_dataset(e.table(target=np.r_[np.inf, np.linspace(0, 1, 59)])),
         DataValidationError, r"the target contains infinite values"),
    case("load_dataset-all-missing-column-csv",
         lambda e, t: load_dataset(_csv(t, e.table(empty=np.nan))),
         DataValidationError, r"column 'empty' of X is entirely missing"),
    case("load_dataset-10000-columns-the-last-all-missing",
         lambda e, t: load_dataset(_wide().assign(c9999=np.nan)),
         DataValidationError, r"column 'c9999' of X is entirely missing"),
    case("load_dataset-missing-target-column",
         lambda e, t: load_dataset(e.csv, target="label"),
         DataValidationError, r"target column 'label' not found"),
    case("load_dataset-unreadable-csv", lambda e, t: load_dataset(_garbage(t)),
         DataSourceError, r"garbage\.csv: cannot be parsed"),
    case("load_dataset-truncated-parquet",
         lambda e, t: load_dataset(_truncate(_parquet(t, e.table()))),
         DataSourceError, r"data\.parquet: not a readable Parquet file"),
    case("load_dataset-folder", lambda e, t: load_dataset(t),
         DataSourceError, r"no such file"),
    case("load_dataset-wrong-openml-id", lambda e, t: _openml(t, "openml:999999999"),
         DataSourceError, r"OpenML dataset 999999999 could not be loaded"),
    # evaluate
    case("evaluate-not-a-dataset", lambda e, t: evaluate("knn", KNN, e.X, cv=2),
         DataValidationError, r"dataset must be a Dataset .* got DataFrame"),
    case("evaluate-params-not-a-dict", lambda e, t: evaluate("knn", None, e.dataset, cv=2),
         InvalidParamsError, r"knn: a configuration must be a dict, got NoneType"),
    case("evaluate-unknown-metric",
         lambda e, t: evaluate("knn", KNN, e.dataset, metric="f1", cv=2),
         UnknownMetricError, r"unknown metric 'f1'"),
    case("evaluate-metric-not-a-name-or-metric",
         lambda e, t: evaluate("knn", KNN, e.dataset, metric=len, cv=2),
         UnknownMetricError, r"metric must be a metric's name or a Metric \(make_metric\)"),
    case("evaluate-own-metric-of-the-other-task",
         lambda e, t: evaluate("knn", KNN, e.dataset, cv=2, metric=make_metric(
             "mape", lambda y, p: 0.0, "regression", greater_is_better=False)),
         UnknownMetricError, r"metric 'mape' is for regression, not classification"),
    case("make-metric-named-as-a-built-in",
         lambda e, t: make_metric("roc_auc", lambda y, p: 0.0, "classification"),
         DataValidationError, r"'roc_auc' is a built-in metric; name yours otherwise"),
    case("make-metric-empty-name",
         lambda e, t: make_metric("", lambda y, p: 0.0, "classification"),
         DataValidationError, r"a metric's name must be a non-empty string, got ''"),
    case("make-metric-not-callable",
         lambda e, t: make_metric("f", "f1_score", "classification"),
         DataValidationError, r"func must be callable, got 'f1_score'"),
    case("make-metric-unknown-task",
         lambda e, t: make_metric("f", lambda y, p: 0.0, "ranking"),
         DataValidationError, r"task must be one of \['classification', 'regression'\], got "
         r"'ranking'"),
    case("make-metric-probabilities-for-regression",
         lambda e, t: make_metric("f", lambda y, p: 0.0, "regression", needs_proba=True),
         DataValidationError, r"needs_proba applies to classification metrics only"),
    case("classifier-own-metric-without-weights-on-a-weighted-fit",
         lambda e, t: AutoMetaClassifier(**{**FAST, "metric": make_metric(
             "hits", lambda y, p: float(np.mean(y == p)), "classification")}).fit(
             e.X, e.y, sample_weight=np.ones(60)),
         DataValidationError, r"metric 'hits' takes no sample_weight argument, so it cannot "
         r"score a weighted fit"),
    case("evaluate-zero-max-rows",
         lambda e, t: evaluate("knn", KNN, e.dataset, cv=2, max_rows=0),
         DataValidationError, r"max_rows must be a positive integer, got 0"),
    case("evaluate-negative-time-limit",
         lambda e, t: evaluate("knn", KNN, e.dataset, cv=2, time_limit=-1),
         DataValidationError, r"time_limit must be positive, got -1"),
    case("evaluate-more-folds-than-rows",
         lambda e, t: evaluate("knn", KNN, e.dataset, cv=100),
         DataValidationError, r"cv=100 folds need at least 100 rows, got 60"),
    # MetaFeatureExtractor
    case("extractor-max-rows-not-a-number", lambda e, t: MetaFeatureExtractor(max_rows="all"),
         DataValidationError, r"max_rows must be at least 10, got 'all'"),
    case("extractor-budget-not-a-number", lambda e, t: MetaFeatureExtractor(time_budget="1m"),
         DataValidationError, r"time_budget must be >= 0 seconds, got '1m'"),
    case("extract-inf-in-regression-target",
         lambda e, t: MetaFeatureExtractor().extract(e.X, np.r_[np.inf, np.ones(59)],
                                                     task="regression"),
         DataValidationError, r"y contains infinite values"),
    # KnowledgeBase
    case("kb-load-truncated-table-without-checksum",
         lambda e, t: KnowledgeBase.load(_kb_without_checksums(e, t)),
         KnowledgeBaseError, r"evaluations\.parquet cannot be read"),
    case("kb-load-truncated-manifest",
         lambda e, t: KnowledgeBase.load(
             _truncate(_copy(e.kb_folder, t) / "manifest.json").parent),
         KnowledgeBaseError, r"manifest\.json is corrupt"),
    case("kb-load-newer-format", lambda e, t: KnowledgeBase.load(_newer_kb(e, t)),
         KnowledgeBaseVersionError, rf"has format {FORMAT_VERSION + 1}, newer than"),
    case("kb-load-checksums-not-a-mapping",
         lambda e, t: KnowledgeBase.load(_edit_json(
             _copy(e.kb_folder, t) / "manifest.json", lambda m: m.update(checksums=["x"]))),
         KnowledgeBaseError, r"manifest\.json is corrupt"),
    case("kb-load-missing-table",
         lambda e, t: KnowledgeBase.load(_without(_copy(e.kb_folder, t), "datasets.parquet")),
         KnowledgeBaseError, r"lacks datasets\.parquet"),
    case("kb-from-frame-params-not-json",
         lambda e, t: KnowledgeBase.from_frame(
             pd.DataFrame({"task": ["a", "b"], "auc": [0.7, 0.8], "params": ['{}', "{x"]}),
             "task", "auc", "params"),
         DataValidationError, r"row 1 of 'params' is not valid JSON"),
    case("kb-from-frame-score-not-numeric",
         lambda e, t: KnowledgeBase.from_frame(
             pd.DataFrame({"task": ["a"], "auc": ["high"], "params": ['{"x": 1}']}),
             "task", "auc", "params"),
         DataValidationError, r"score column 'auc' is not numeric"),
    # MetaLearner
    case("learner-load-newer-format",
         lambda e, t: MetaLearner.load(_edit_json(
             _learner_copy(e, t) / "config.json", lambda c: c.update(format_version=99))),
         KnowledgeBaseVersionError, r"has format 99, this automl_meta reads 1"),
    case("learner-load-truncated-weights",
         lambda e, t: MetaLearner.load(
             _truncate(_learner_copy(e, t) / "weights.safetensors").parent),
         KnowledgeBaseError, r"cannot read .*weights\.safetensors"),
    case("learner-load-config-missing-keys",
         lambda e, t: MetaLearner.load(_edit_json(
             _learner_copy(e, t) / "config.json", lambda c: c.pop("slots"))),
         KnowledgeBaseError, r"config\.json is corrupt: KeyError: 'slots'"),
    case("learner-fit-not-a-knowledge-base",
         lambda e, t: MetaLearner(steps=1).fit(e.kb.evaluations),
         DataValidationError, r"knowledge_base must be a KnowledgeBase .* got DataFrame"),
    case("learner-predict-out-of-space",
         lambda e, t: e.learner.predict(e.metafeatures, "knn", [{**KNN, "n_neighbors": 0}],
                                        task="classification"),
         InvalidParamsError, r"knn: n_neighbors=0 is outside its space"),
    case("learner-adapt-nan-score",
         lambda e, t: e.learner.adapt(e.metafeatures, [("knn", KNN, np.nan)],
                                      task="classification"),
         DataValidationError, r"trial scores must be finite numbers"),
    case("learner-adapt-params-not-json",
         lambda e, t: e.learner.adapt(
             e.metafeatures, pd.DataFrame({"family": ["knn"], "params": ["{n_neighbors"],
                                           "score": [0.5]}), task="classification"),
         DataValidationError, r"trial params must be dicts or JSON objects"),
    # recommend
    case("recommend-learner-not-a-learner",
         lambda e, t: recommend(e.X, e.y, metafeatures=e.metafeatures, learner="reptile",
                                knowledge_base=e.kb),
         DataValidationError, r"learner must be a MetaLearner, got str"),
    case("recommend-unfitted-learner",
         lambda e, t: recommend(e.X, e.y, metafeatures=e.metafeatures, learner=MetaLearner(),
                                knowledge_base=e.kb),
         NotFittedError, r"MetaLearner is not fitted"),
    case("recommend-knowledge-base-not-a-knowledge-base",
         lambda e, t: recommend(e.X, e.y, metafeatures=e.metafeatures, learner=e.learner,
                                knowledge_base=str(e.kb_folder)),
         DataValidationError, r"knowledge_base must be a KnowledgeBase, got str"),
    case("recommend-negative-candidates",
         lambda e, t: recommend(e.X, e.y, metafeatures=e.metafeatures, learner=e.learner,
                                knowledge_base=e.kb, n_candidates=-1),
         DataValidationError, r"n_candidates must be an integer >= 0, got -1"),
    case("recommend-all-missing-column",
         lambda e, t: recommend(e.X.assign(empty=np.nan), e.y, learner=e.learner,
                                knowledge_base=e.kb),
         DataValidationError, r"column 'empty' of X is entirely missing"),
    case("recommend-single-row",
         lambda e, t: recommend(e.X.iloc[[1]], e.y.iloc[[1]], metafeatures=e.metafeatures,
                                learner=e.learner, knowledge_base=e.kb),
         DataValidationError, r"single class"),
    # warm_start_study, MetaLearnedSampler
    case("warm-start-not-a-study",
         lambda e, t: warm_start_study("study", e.X, e.y, learner=e.learner,
                                       knowledge_base=e.kb, metafeatures=e.metafeatures),
         DataValidationError, r"study must be an optuna\.Study, got str"),
    case("warm-start-unknown-family",
         lambda e, t: warm_start_study(optuna.create_study(), e.X, e.y, families=["xgboost"],
                                       learner=e.learner, knowledge_base=e.kb,
                                       metafeatures=e.metafeatures),
         UnknownFamilyError, r"unknown model family 'xgboost'"),
    case("sampler-all-missing-column",
         lambda e, t: MetaLearnedSampler(e.X.assign(empty=np.nan), e.y, learner=e.learner,
                                         knowledge_base=e.kb),
         DataValidationError, r"column 'empty' of X is entirely missing"),
    case("sampler-seed-not-an-integer",
         lambda e, t: MetaLearnedSampler(metafeatures=e.metafeatures, task="classification",
                                         learner=e.learner, knowledge_base=e.kb, seed="0"),
         DataValidationError, r"seed must be an integer or None, got '0'"),
    case("from-studies-no-completed-trial",
         lambda e, t: MetaLearnedSampler.from_studies(_empty_study_storage(), ["empty"]),
         KnowledgeBaseError, r"the studies \['empty'\] have no completed trial"),
    case("from-studies-unreachable-storage",
         lambda e, t: MetaLearnedSampler.from_studies(UNREACHABLE, ["past"]),
         DataSourceError, r"cannot open the Optuna storage 'nosuch://nowhere'"),
    # AutoMetaClassifier / AutoMetaRegressor
    case("classifier-one-row",
         lambda e, t: AutoMetaClassifier(**FAST).fit(e.X.head(1), e.y.head(1)),
         DataValidationError, r"1 sample\(s\) cannot be split into cv=2 folds"),
    case("classifier-duplicate-column-names",
         lambda e, t: AutoMetaClassifier(**FAST).fit(e.X.set_axis(["a", "b", "a", "c"], axis=1),
                                                     e.y),
         DataValidationError, r"X has duplicate column names: \['a'\]"),
    case("classifier-mixed-column-name-types",
         lambda e, t: AutoMetaClassifier(**FAST).fit(e.X.set_axis(["a", 1, "b", 2], axis=1),
                                                     e.y),
         TypeError, r"only supported if all input features have string names"),
    case("classifier-x-and-y-lengths-differ",
         lambda e, t: AutoMetaClassifier(**FAST).fit(e.X, e.y.iloc[:-1]),
         DataValidationError, r"X has 60 rows but y has 59 values"),
    case("classifier-continuous-target",
         lambda e, t: AutoMetaClassifier(**FAST).fit(e.X, np.linspace(0, 1, 60)),
         ValueError, r"Unknown label type: continuous"),
    case("classifier-nan-in-target",
         lambda e, t: AutoMetaClassifier(**FAST).fit(e.X, e.y.where(e.y.index != 7)),
         DataValidationError, r"the target has 1 missing values; drop those rows"),
    case("classifier-none-labels-arrays",
         lambda e, t: AutoMetaClassifier(**FAST).fit(
             np.arange(120.0).reshape(60, 2), ["a", "b", None] * 20),
         DataValidationError, r"the target has 20 missing values; drop those rows"),
    case("regressor-nan-in-target-arrays",
         lambda e, t: AutoMetaRegressor(**FAST).fit(
             np.arange(120.0).reshape(60, 2), np.r_[np.linspace(0, 1, 59), np.nan]),
         DataValidationError, r"the target has 1 missing values; drop those rows"),
    case("classifier-all-missing-column",
         lambda e, t: AutoMetaClassifier(**FAST).fit(e.X.assign(empty=None), e.y),
         DataValidationError, r"column 'empty' of X is entirely missing; drop it"),
    case("regressor-all-missing-columns-arrays",
         lambda e, t: AutoMetaRegressor(**FAST).fit(
             np.c_[np.arange(60.0), np.full((60, 2), np.nan)], np.linspace(0, 1, 60)),
         DataValidationError, r"2 columns of X are entirely missing: 'x1', 'x2'; drop them"),
    case("classifier-values-beyond-float32",
         lambda e, t: AutoMetaClassifier(**FAST).fit(e.X.assign(num1=e.X["num1"] * 1e300), e.y),
         DataValidationError, r"column 'num1' of X holds values beyond \+-3\.4e\+38, the "
                              r"range of the 32-bit floats that tree models work in; rescale"),
    case("regressor-target-beyond-float32",
         lambda e, t: AutoMetaRegressor(**FAST).fit(
             np.arange(120.0).reshape(60, 2), np.linspace(0, 1e39, 60)),
         DataValidationError, r"the target holds values beyond \+-3\.4e\+38, the range of "
                              r"the 32-bit floats that LightGBM keeps targets in; rescale it"),
    case("predict-values-beyond-float32",
         lambda e, t: joblib.load(e.model_file).predict(e.X.assign(num1=1e39)),
         DataValidationError, r"column 'num1' of X holds values beyond \+-3\.4e\+38"),
    case("classifier-cv-not-a-splitter",
         lambda e, t: AutoMetaClassifier(**{**FAST, "cv": object()}).fit(e.X, e.y),
         DataValidationError, r"cv must be 'auto', an integer >= 2 \(folds\), a float .* "
         r"a scikit-learn splitter or an iterable of \(train, validation\) splits"),
    case("classifier-cv-split-without-validation-rows",
         lambda e, t: AutoMetaClassifier(**{**FAST, "cv": [(np.arange(50), [])]}).fit(e.X, e.y),
         DataValidationError, r"cv: split 0 has no validation rows"),
    case("classifier-cv-split-outside-the-rows",
         lambda e, t: AutoMetaClassifier(**{**FAST, "cv": [(np.arange(50), np.arange(50, 61))]}
                                         ).fit(e.X, e.y),
         DataValidationError, r"cv: split 0 has validation positions outside 0\.\.59"),
    case("classifier-cv-split-not-a-pair",
         lambda e, t: AutoMetaClassifier(**{**FAST, "cv": [np.arange(60)]}).fit(e.X, e.y),
         DataValidationError, r"cv: split 0 is not a \(train, validation\) pair"),
    case("classifier-cv-split-validating-on-one-class",
         lambda e, t: AutoMetaClassifier(**{**FAST, "cv": GroupKFold(2)}).fit(
             e.X, e.y, groups=pd.factorize(e.y)[0]),
         DataValidationError, r"cv: split 0 validates on a single class, where ROC AUC is "
         r"undefined; use a stratified splitter"),
    case("classifier-more-folds-than-a-class-has-rows",
         lambda e, t: AutoMetaClassifier(**{**FAST, "cv": 5}).fit(
             e.X, np.where(np.arange(60) < 3, "rare", "common")),
         DataValidationError, r"cv=5: split \d validates on a single class, where ROC AUC is "
         r"undefined: class 'rare' has 3 of 60 rows; use fewer folds \(cv='auto'"),
    case("classifier-auto-cv-a-class-of-one-row",
         lambda e, t: AutoMetaClassifier(**{**FAST, "cv": "auto"}).fit(
             e.X, np.where(np.arange(60) < 1, "rare", "common")),
         DataValidationError, r"cv=2: split \d validates on a single class, where ROC AUC is "
         r"undefined: class 'rare' has 1 of 60 rows; use another metric"),
    case("classifier-cv-a-generator",
         lambda e, t: AutoMetaClassifier(**{**FAST, "cv": GroupKFold(3).split(
             e.X, e.y, np.arange(60) % 6)}).fit(e.X, e.y),
         DataValidationError, r"cv is an iterator, which one fit would use up .* list\(cv\)"),
    case("classifier-group-splitter-without-groups",
         lambda e, t: AutoMetaClassifier(**{**FAST, "cv": GroupKFold(3)}).fit(e.X, e.y),
         DataValidationError, r"cv=GroupKFold\(.*\) cannot split the data: The 'groups' "
         r"parameter should not be None"),
    case("classifier-groups-of-another-length",
         lambda e, t: AutoMetaClassifier(**FAST).fit(e.X, e.y, groups=np.arange(59)),
         DataValidationError, r"groups must be one label per row: 60 labels, got shape "
         r"\(59,\)"),
    case("classifier-groups-with-missing-labels",
         lambda e, t: AutoMetaClassifier(**FAST).fit(e.X, e.y, groups=[1.0, np.nan] * 30),
         DataValidationError, r"groups has 30 missing labels"),
    case("classifier-fewer-groups-than-folds",
         lambda e, t: AutoMetaClassifier(**FAST).fit(e.X, e.y, groups=np.zeros(60)),
         DataValidationError, r"cv=2 group folds need at least 2 groups, got 1"),
    case("classifier-sample-weight-of-another-length",
         lambda e, t: AutoMetaClassifier(**FAST).fit(e.X, e.y, sample_weight=np.ones(59)),
         DataValidationError, r"sample_weight must be one weight per row: 60 weights, got "
         r"shape \(59,\)"),
    case("classifier-sample-weight-not-numbers",
         lambda e, t: AutoMetaClassifier(**FAST).fit(e.X, e.y, sample_weight=["a"] * 60),
         DataValidationError, r"sample_weight must hold numbers"),
    case("classifier-negative-sample-weight",
         lambda e, t: AutoMetaClassifier(**FAST).fit(e.X, e.y,
                                                     sample_weight=np.r_[-1.0, np.ones(59)]),
         DataValidationError, r"sample_weight has 1 negative weights"),
    case("classifier-missing-sample-weight",
         lambda e, t: AutoMetaClassifier(**FAST).fit(e.X, e.y,
                                                     sample_weight=np.r_[np.nan, np.ones(59)]),
         DataValidationError, r"sample_weight has 1 missing or infinite weights"),
    case("classifier-all-zero-sample-weight",
         lambda e, t: AutoMetaClassifier(**FAST).fit(e.X, e.y, sample_weight=np.zeros(60)),
         DataValidationError, r"sample_weight is all zero: no row would count"),
    case("classifier-sample-weight-on-one-class",
         lambda e, t: AutoMetaClassifier(**FAST).fit(e.X, e.y,
                                                     sample_weight=(e.y == "c0").astype(float)),
         DataValidationError, r"sample_weight leaves a single class with weight \('c0'\); a "
         r"classifier needs two classes or more"),
    case("classifier-knn-with-sample-weight",
         lambda e, t: AutoMetaClassifier(**{**FAST, "families": ["linear", "knn"]}).fit(
             e.X, e.y, sample_weight=np.ones(60)),
         DataValidationError, r"knn cannot weigh its training rows, so it cannot be used "
         r"with sample_weight"),
    case("classifier-validation-rows-all-weight-zero",
         lambda e, t: AutoMetaClassifier(**{**FAST, "cv": [(np.arange(40), np.arange(40, 60))]}
                                         ).fit(e.X, e.y, sample_weight=np.r_[np.ones(40),
                                                                             np.zeros(20)]),
         DataValidationError, r"split 0: every validation row has weight 0"),
    case("evaluate-knn-with-sample-weight",
         lambda e, t: evaluate("knn", KNN, e.dataset, cv=2, sample_weight=np.ones(60)),
         DataValidationError, r"knn cannot weigh its training rows"),
    case("evaluate-max-rows-with-sample-weight",
         lambda e, t: evaluate("linear", default_params("linear", "classification"),
                               e.dataset, cv=2, max_rows=30, sample_weight=np.ones(60)),
         DataValidationError, r"max_rows subsamples the rows, so cv must be a number .* "
         r"without given splits, groups or sample_weight"),
    case("evaluate-max-rows-with-given-splits",
         lambda e, t: evaluate("knn", KNN, e.dataset, cv=[(np.arange(40), np.arange(40, 60))],
                               max_rows=30),
         DataValidationError, r"max_rows subsamples the rows, so cv must be a number"),
    case("classifier-nan-budget",
         lambda e, t: AutoMetaClassifier(**{**FAST, "time_budget": np.nan}).fit(e.X, e.y),
         DataValidationError, r"time_budget must be a positive number of seconds"),
    case("classifier-unreachable-storage",
         lambda e, t: AutoMetaClassifier(**FAST, storage=UNREACHABLE).fit(e.X, e.y),
         DataSourceError, r"cannot open the Optuna storage 'nosuch://nowhere'"),
    case("classifier-missing-knowledge-base",
         lambda e, t: AutoMetaClassifier(**{**FAST, "knowledge_base": str(t / "none")}).fit(
             e.X, e.y),
         KnowledgeBaseError, r"no knowledge base at .*none"),
    case("classifier-predict-no-rows",
         lambda e, t: joblib.load(e.model_file).predict(e.X.iloc[:0]),
         DataValidationError, r"X has no rows to predict"),
    case("regressor-mixed-type-column",
         lambda e, t: AutoMetaRegressor(**FAST).fit(
             e.X.assign(num2=pd.Series([1.5, "x"] * 30, dtype=object)), np.linspace(0, 1, 60)),
         DataValidationError, r"column 'num2' mixes value types \(float, str\)"),
    case("regressor-constant-target",
         lambda e, t: AutoMetaRegressor(**FAST).fit(e.X, np.full(60, 2.5)),
         DataValidationError, r"the regression target is constant"),
]


@pytest.mark.parametrize(("call", "error", "match"), API_CASES)
def test_bad_input_raises_a_specific_error_naming_the_problem(env, tmp_path, call, error,
                                                              match):
    with pytest.raises(error, match=match):
        call(env, tmp_path)


def test_wide_data_and_constant_columns_are_accepted():
    # 10,000 columns, all but one constant: checked in a moment, and a search runs on them.
    frame = _wide()
    frame.iloc[:, 1:10_000] = 1.0
    model = AutoMetaClassifier(**FAST).fit(frame.drop(columns="target"), frame["target"])
    assert model.n_features_in_ == 10_000
    assert model.predict(frame.drop(columns="target").head(3)).shape == (3,)


# ---------------------------------------------------------------------------------------
# The command line


def cli_case(id: str, argv: list[str], match: str, code: int = EXIT_USAGE,
             files: Callable[[Env, Path], dict] | None = None):
    """``argv`` is formatted with ``csv`` (a good data file), ``kb`` (a knowledge base with
    its meta-learner), ``model`` (a saved model), ``tmp`` and what ``files`` returns."""
    return pytest.param(argv, match, code, files, id=id)


CLI_CASES = [
    cli_case("evaluate-unreadable-csv", ["evaluate", "{bad}", "--family", "knn"],
             r"garbage\.csv: cannot be parsed",
             files=lambda e, t: {"bad": _garbage(t)}),
    cli_case("evaluate-metric-of-the-other-task",
             ["evaluate", "{csv}", "--family", "knn", "--metric", "rmse"],
             r"metric 'rmse' is for regression"),
    cli_case("evaluate-drop-unknown-column",
             ["evaluate", "{csv}", "--family", "knn", "--drop", "num1", "nope"],
             r"no column 'nope' to leave out among the features of .*good\.csv"),
    cli_case("recommend-drop-the-target", ["recommend", "{csv}", "--drop", "target"],
             r"no column 'target' to leave out among the features"),
    cli_case("evaluate-zero-time-limit",
             ["evaluate", "{csv}", "--family", "knn", "--time-limit", "0"],
             r"argument --time-limit: must be positive, got 0"),
    cli_case("evaluate-single-class", ["evaluate", "{one}", "--family", "knn"],
             r"single class", files=lambda e, t: {"one": _csv(t, e.table(target="c0"))}),
    cli_case("fit-metric-neither-a-name-nor-a-file",
             ["fit", "{csv}", "--trials", "1", "--no-meta", "--metric", "scores.txt:f2"],
             r"--metric: 'scores\.txt:f2' is neither a built-in metric's name nor FILE\.py:NAME"),
    cli_case("fit-metric-file-missing",
             ["fit", "{csv}", "--trials", "1", "--no-meta", "--metric", "{tmp}/none.py:f2"],
             r"--metric: no such file: .*none\.py"),
    cli_case("fit-metric-file-raises",
             ["fit", "{csv}", "--trials", "1", "--no-meta", "--metric", "{py}:f2"],
             r"--metric: running .*m\.py raised ZeroDivisionError: division by zero",
             files=lambda e, t: {"py": _write(t / "m.py", "f2 = 1 / 0\n")}),
    cli_case("fit-metric-name-missing",
             ["fit", "{csv}", "--trials", "1", "--no-meta", "--metric", "{py}:f2"],
             r"--metric: .*m\.py defines no 'f2'",
             files=lambda e, t: {"py": _write(t / "m.py", "f3 = None\n")}),
    cli_case("evaluate-metric-a-plain-function",
             ["evaluate", "{csv}", "--family", "linear", "--metric", "{py}:f2"],
             r"--metric: 'f2' in .*m\.py is a function, not a metric: make it with "
             r"automl_meta\.evaluation\.make_metric",
             files=lambda e, t: {"py": _write(t / "m.py", "def f2(y, p):\n    return 0.0\n")}),
    cli_case("fit-unreachable-storage",
             ["fit", "{csv}", "--trials", "1", "--no-meta", "--storage", "nosuch://nowhere"],
             r"cannot open the Optuna storage 'nosuch://nowhere'"),
    cli_case("fit-zero-trials", ["fit", "{csv}", "--trials", "0", "--no-meta"],
             r"n_trials must be an integer >= 1"),
    cli_case("fit-negative-time", ["fit", "{csv}", "--time", "-5", "--no-meta"],
             r"time_budget must be a positive number of seconds or None, got -5"),
    cli_case("fit-zero-ensemble", ["fit", "{csv}", "--trials", "1", "--no-meta",
                                   "--ensemble-size", "0"],
             r"ensemble_size must be an integer >= 1, got 0"),
    cli_case("fit-zero-jobs", ["fit", "{csv}", "--trials", "1", "--jobs", "0", "--no-meta"],
             r"n_jobs must be an integer >= 1 or -1, got 0"),
    cli_case("fit-nan-in-target", ["fit", "{nan}", "--trials", "1", "--no-meta"],
             r"the target has 1 missing values",
             files=lambda e, t: {"nan": _csv(t, e.table(target=e.y.where(e.y.index != 7)))}),
    cli_case("fit-unknown-groups-column",
             ["fit", "{csv}", "--trials", "1", "--no-meta", "--groups", "nosuch"],
             r"--groups: no column 'nosuch' among the features of .*good\.csv"),
    cli_case("fit-unknown-weights-column",
             ["fit", "{csv}", "--trials", "1", "--no-meta", "--weights", "nosuch"],
             r"--weights: no column 'nosuch' among the features of .*good\.csv"),
    cli_case("fit-weights-column-of-categories",
             ["fit", "{csv}", "--trials", "1", "--no-meta", "--weights", "low"],
             r"sample_weight must hold numbers"),
    cli_case("evaluate-weights-column-with-missing-values",
             ["evaluate", "{csv}", "--family", "linear", "--weights", "num1"],
             r"sample_weight has \d+ missing or infinite weights"),
    cli_case("predict-drop-unknown-column",
             ["predict", "{model}", "{csv}", "--out", "{tmp}/p.csv", "--drop", "nosuch"],
             r"--drop: no column 'nosuch' in .*good\.csv"),
    cli_case("fit-missing-knowledge-base",
             ["fit", "{csv}", "--trials", "1", "--knowledge-base", "{tmp}/none"],
             r"no knowledge base at .*none"),
    cli_case("predict-truncated-model", ["predict", "{cut}", "{csv}", "--out", "{tmp}/p.csv"],
             r"not a readable model file",
             files=lambda e, t: {"cut": _truncate(Path(shutil.copy(e.model_file, t)))}),
    cli_case("predict-not-a-model", ["predict", "{other}", "{csv}", "--out", "{tmp}/p.csv"],
             r"not a model written by automl-meta fit",
             files=lambda e, t: {"other": joblib.dump({"a": 1}, t / "o.joblib")[0]}),
    cli_case("predict-inf-in-data", ["predict", "{model}", "{inf}", "--out", "{tmp}/p.csv"],
             r"column 'num1' of X contains infinite values",
             files=lambda e, t: {"inf": _csv(t, e.table(num1=np.inf))}),
    cli_case("predict-output-folder-missing",
             ["predict", "{model}", "{csv}", "--out", "{tmp}/no/such/folder/p.csv"],
             r"non-existent directory", code=EXIT_FAILED),
    cli_case("build-missing-manifest", ["build", "--manifest", "{tmp}/m.csv", "--store",
                                        "{tmp}/s.sqlite"], r"no such manifest"),
    cli_case("build-unknown-family",
             ["build", "{csv}", "--store", "{tmp}/s.sqlite", "--families", "xgboost"],
             r"unknown model family 'xgboost'"),
    cli_case("build-one-fold", ["build", "{csv}", "--store", "{tmp}/s.sqlite", "--cv", "1"],
             r"cv must be >= 2, got 1"),
    cli_case("build-store-is-a-folder", ["build", "{csv}", "--store", "{tmp}"],
             r"exists and is not a store file"),
    cli_case("build-store-not-sqlite", ["build", "{csv}", "--store", "{store}"],
             r"store .*s\.sqlite: file is not a database",
             files=lambda e, t: {"store": shutil.copy(e.csv, t / "s.sqlite")}),
    cli_case("build-seed-from-newer-knowledge-base",
             ["build", "--seed-from", "{newer}", "--store", "{tmp}/s.sqlite", "--export",
              "{tmp}/out"],
             r"newer than this automl_meta reads", files=lambda e, t: {"newer": _newer_kb(e, t)}),
    cli_case("build-export-under-a-file",
             ["build", "--store", "{tmp}/s.sqlite", "--export", "{csv}/kb"],
             r"cannot write the knowledge base to .*good\.csv/kb"),
    cli_case("train-corrupt-knowledge-base",
             ["train", "--knowledge-base", "{cut}", "--out", "{tmp}/learner"],
             r"manifest\.json is corrupt",
             files=lambda e, t: {"cut": _truncate(_copy(e.kb_folder, t) / "manifest.json")
                                 .parent}),
    cli_case("train-negative-steps",
             ["train", "--knowledge-base", "{kb}", "--steps", "-1", "--out", "{tmp}/learner"],
             r"steps must be an integer >= 0, got -1"),
    cli_case("train-unreachable-storage",
             ["train", "--from-studies", "past", "--storage", "nosuch://nowhere", "--out",
              "{tmp}/learner"],
             r"cannot open the Optuna storage 'nosuch://nowhere'"),
    cli_case("recommend-newer-knowledge-base", ["recommend", "{csv}", "--knowledge-base",
                                                "{newer}"],
             r"newer than this automl_meta reads", files=lambda e, t: {"newer": _newer_kb(e, t)}),
    cli_case("recommend-all-missing-column", ["recommend", "{empty}", "--knowledge-base",
                                              "{kb}"],
             r"column 'empty' of X is entirely missing",
             files=lambda e, t: {"empty": _csv(t, e.table(empty=np.nan))}),
    cli_case("recommend-zero-k", ["recommend", "{csv}", "-k", "0"],
             r"argument -k/--k: must be a positive integer, got 0"),
]


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(("argv", "match", "code", "files"), CLI_CASES)
def test_cli_bad_input_exits_non_zero_with_one_line_and_no_traceback(env, tmp_path, capsys,
                                                                     argv, match, code, files):
    names = {"csv": env.csv, "kb": env.kb_folder, "model": env.model_file, "tmp": tmp_path,
             **(files(env, tmp_path) if files else {})}
    exit_code, out, err = _run([a.format(**names) for a in argv], capsys)
    assert "Traceback" not in out + err
    assert exit_code == code, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"automl-meta {argv[0]}: error: ")
    assert re.search(match, last), last


def test_cli_info_reports_an_unreadable_knowledge_base_and_exits_1(env, tmp_path, capsys):
    code, out, err = _run(["info", "--knowledge-base", str(_newer_kb(env, tmp_path))], capsys)
    assert code == EXIT_FAILED
    assert "Traceback" not in out + err
    assert "(unavailable)" in out and "newer than this automl_meta reads" in out
