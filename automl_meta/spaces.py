"""Model families: search spaces, default configurations and pipeline builders.

Each family's space is defined once, here, as Optuna distributions with optional
conditions, and everything else derives from it: the meta-dataset design
(:func:`from_unit`), Optuna sampling (:func:`suggest`), the meta-learner's encoding
(:func:`encode`), priors, and the sklearn pipelines (:func:`build_pipeline`).

Example
-------
>>> from automl_meta.spaces import FAMILIES, default_params
>>> sorted(FAMILIES)  # doctest: +NORMALIZE_WHITESPACE
['extra_trees', 'hist_gradient_boosting', 'knn', 'lightgbm', 'linear', 'mlp',
 'random_forest', 'svm']
>>> default_params("knn", "classification")
{'n_neighbors': 5, 'weights': 'uniform', 'p': 2}
"""

from __future__ import annotations

import contextlib
import inspect
import math
import re
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler, TargetEncoder
from sklearn.svm import SVC, SVR

from automl_meta.data import TASKS, Schema
from automl_meta.exceptions import InvalidParamsError, UnknownFamilyError

#: Categoricals with at most this many categories are one-hot encoded; more: target encoded.
ONE_HOT_MAX_CATEGORIES = 10


@dataclass(frozen=True)
class Param:
    """One hyperparameter: its distribution and, optionally, when it is active.

    ``condition=("penalty", ("elasticnet",))`` makes the parameter exist only when the
    parameter ``penalty`` takes one of the listed values.
    """

    name: str
    distribution: BaseDistribution
    condition: tuple[str, tuple] | None = None

    def is_active(self, params: Mapping) -> bool:
        if self.condition is None:
            return True
        parent, values = self.condition
        return params.get(parent) in values


@dataclass(frozen=True)
class Family:
    """A model family: its spaces and defaults per task, and how to build its estimator."""

    name: str
    spaces: Mapping[str, tuple[Param, ...]]  # task -> parameters
    defaults: Mapping[str, Mapping]  # task -> default configuration
    make_estimator: Callable[[dict, str, int, int], BaseEstimator]
    preprocessing: str  # "native", "ordinal" or "scaled"
    #: Whether its estimator weighs training rows (``fit(..., sample_weight=...)``).
    weighs_rows: bool = True

    def params(self, task: str) -> tuple[Param, ...]:
        _check_task(task)
        return self.spaces[task]


def _log_int(low: int, high: int) -> IntDistribution:
    return IntDistribution(low, high, log=True)


def _log_float(low: float, high: float) -> FloatDistribution:
    return FloatDistribution(low, high, log=True)


def _choice(*values) -> CategoricalDistribution:
    return CategoricalDistribution(values)


# ---------------------------------------------------------------------------------------
# Estimators


def _lightgbm(params: dict, task: str, seed: int, n_jobs: int):
    import lightgbm as lgb

    cls = lgb.LGBMClassifier if task == "classification" else lgb.LGBMRegressor
    return cls(
        **params, subsample_freq=1, random_state=seed, n_jobs=n_jobs, verbose=-1
    )


def _hist_gradient_boosting(params: dict, task: str, seed: int, n_jobs: int):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingClassifier if task == "classification" else (
        HistGradientBoostingRegressor)
    return cls(**params, categorical_features="from_dtype", random_state=seed)


def _forest(kind: str):
    def make(params: dict, task: str, seed: int, n_jobs: int):
        from sklearn import ensemble

        name = {"random_forest": "RandomForest", "extra_trees": "ExtraTrees"}[kind]
        suffix = "Classifier" if task == "classification" else "Regressor"
        return getattr(ensemble, name + suffix)(**params, random_state=seed, n_jobs=n_jobs)

    return make


def _linear(params: dict, task: str, seed: int, n_jobs: int):
    from sklearn.linear_model import ElasticNet, LogisticRegression

    if task == "regression":
        return ElasticNet(**params, max_iter=5000, random_state=seed)
    l1_ratio = params.get("l1_ratio", 0.0) if params["penalty"] == "elasticnet" else 0.0
    class_weight = None if params["class_weight"] == "none" else params["class_weight"]
    return LogisticRegression(
        C=params["C"],
        l1_ratio=l1_ratio,
        solver="saga" if l1_ratio > 0 else "lbfgs",
        class_weight=class_weight,
        max_iter=1000,
        random_state=seed,
    )


def _svm(params: dict, task: str, seed: int, n_jobs: int):
    # ``gamma`` is relative to sklearn's gamma="scale": the _GammaScaler step rescales X.
    if task == "classification":
        return _PlattSVC(C=params["C"], gamma=params["gamma"], probability=True,
                         random_state=seed)
    return SVR(C=params["C"], gamma=params["gamma"], epsilon=params["epsilon"])


class _PlattSVC(SVC):
    """``SVC(probability=True)`` without the deprecation warning scikit-learn 1.9 and 1.10
    give on every fit.

    The suggested replacement, ``CalibratedClassifierCV(SVC(), ensemble=False)``, fails
    when a class has too few rows for its folds and calibrates multiclass problems one
    class against the rest instead of libsvm's pairwise coupling, which changes the
    family's scores; setup.cfg keeps scikit-learn below 1.11, which removes the parameter.
    """

    def fit(self, X, y, sample_weight=None):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The `probability` parameter",
                                    category=FutureWarning)
            return super().fit(X, y, sample_weight=sample_weight)


def _knn(params: dict, task: str, seed: int, n_jobs: int):
    cls = _ClippedKNeighborsClassifier if task == "classification" \
        else _ClippedKNeighborsRegressor
    return cls(**params, n_jobs=n_jobs)


_CLIP_LOCK = threading.RLock()


class _ClippedNeighbors:
    """k nearest neighbours with k clipped to the training rows: a configuration's k (up
    to 64) would otherwise fail on a small dataset or cross-validation fold."""

    def fit(self, X, y):
        super().fit(X, y)
        self.n_neighbors_ = min(self.n_neighbors, self.n_samples_fit_)
        return self

    @contextlib.contextmanager
    def _clipped(self):
        # sklearn reads self.n_neighbors: swap the clipped k in while any call (of any
        # thread) is inside, and the requested one back when the last leaves.
        with _CLIP_LOCK:
            if not self.__dict__.get("_inside", 0):
                self._requested = self.n_neighbors
                self.n_neighbors = self.n_neighbors_
            self._inside = self.__dict__.get("_inside", 0) + 1
        try:
            yield
        finally:
            with _CLIP_LOCK:
                self._inside -= 1
                if not self._inside:
                    self.n_neighbors = self._requested

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        with self._clipped():
            return super().kneighbors(X, n_neighbors, return_distance)

    def predict(self, X):
        with self._clipped():
            return super().predict(X)


class _ClippedKNeighborsClassifier(_ClippedNeighbors, KNeighborsClassifier):
    def predict_proba(self, X):
        with self._clipped():
            return super().predict_proba(X)


class _ClippedKNeighborsRegressor(_ClippedNeighbors, KNeighborsRegressor):
    pass


def _mlp(params: dict, task: str, seed: int, n_jobs: int):
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    cls = MLPClassifier if task == "classification" else MLPRegressor
    layers = (params["width"],) * params["n_layers"]
    return cls(
        hidden_layer_sizes=layers,
        alpha=params["alpha"],
        learning_rate_init=params["learning_rate_init"],
        batch_size=params["batch_size"],
        max_iter=200,
        random_state=seed,
    )


# ---------------------------------------------------------------------------------------
# The families

_GBM = (
    Param("n_estimators", _log_int(16, 512)),
    Param("learning_rate", _log_float(0.005, 0.5)),
    Param("num_leaves", _log_int(4, 256)),
    Param("min_child_samples", _log_int(2, 128)),
    Param("subsample", FloatDistribution(0.5, 1.0)),
    Param("colsample_bytree", FloatDistribution(0.3, 1.0)),
    Param("reg_alpha", _log_float(1e-8, 10.0)),
    Param("reg_lambda", _log_float(1e-8, 10.0)),
)
_GBM_DEFAULT = {
    "n_estimators": 100, "learning_rate": 0.1, "num_leaves": 31, "min_child_samples": 20,
    "subsample": 1.0, "colsample_bytree": 1.0, "reg_alpha": 1e-8, "reg_lambda": 1e-8,
}
_HGB = (
    Param("max_iter", _log_int(16, 512)),
    Param("learning_rate", _log_float(0.005, 0.5)),
    Param("max_leaf_nodes", _log_int(4, 256)),
    Param("min_samples_leaf", _log_int(2, 128)),
    Param("max_features", FloatDistribution(0.3, 1.0)),
    Param("l2_regularization", _log_float(1e-8, 10.0)),
)
_HGB_DEFAULT = {
    "max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20,
    "max_features": 1.0, "l2_regularization": 1e-8,
}
_FOREST = (
    Param("n_estimators", _log_int(16, 256)),
    Param("max_features", _log_float(0.05, 1.0)),
    Param("min_samples_leaf", _log_int(1, 32)),
    Param("min_samples_split", _log_int(2, 32)),
    Param("bootstrap", _choice(True, False)),
)
# sklearn's max_features="sqrt" (classification) has no fixed fraction: 0.25 stands for it.
_FOREST_DEFAULT = {
    "classification": {"n_estimators": 100, "max_features": 0.25, "min_samples_leaf": 1,
                       "min_samples_split": 2, "bootstrap": True},
    "regression": {"n_estimators": 100, "max_features": 1.0, "min_samples_leaf": 1,
                   "min_samples_split": 2, "bootstrap": True},
}
_SVM_CLS = (
    Param("C", _log_float(1e-3, 1e3)),
    Param("gamma", _log_float(1e-3, 1e2)),
)
_SVM_REG = _SVM_CLS + (Param("epsilon", _log_float(1e-3, 1.0)),)
_KNN = (
    Param("n_neighbors", _log_int(1, 64)),
    Param("weights", _choice("uniform", "distance")),
    Param("p", _choice(1, 2)),
)
_MLP = (
    Param("n_layers", IntDistribution(1, 3)),
    Param("width", _log_int(16, 256)),
    Param("alpha", _log_float(1e-7, 1e-1)),
    Param("learning_rate_init", _log_float(1e-4, 1e-1)),
    Param("batch_size", _choice(32, 64, 128, 256)),
)
_MLP_DEFAULT = {"n_layers": 1, "width": 100, "alpha": 1e-4, "learning_rate_init": 1e-3,
                "batch_size": 128}


def _same(space, default=None) -> tuple[dict, dict]:
    return ({t: space for t in TASKS}, {t: default for t in TASKS})


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("lightgbm", *_same(_GBM, _GBM_DEFAULT), _lightgbm, "native"),
        Family("hist_gradient_boosting", *_same(_HGB, _HGB_DEFAULT), _hist_gradient_boosting,
               "native"),
        Family("random_forest", _same(_FOREST)[0], _FOREST_DEFAULT, _forest("random_forest"),
               "ordinal"),
        Family("extra_trees", _same(_FOREST)[0], _FOREST_DEFAULT, _forest("extra_trees"),
               "ordinal"),
        Family(
            "linear",
            {
                "classification": (
                    Param("C", _log_float(1e-4, 1e4)),
                    Param("penalty", _choice("l2", "elasticnet")),
                    Param("l1_ratio", FloatDistribution(0.0, 1.0),
                          condition=("penalty", ("elasticnet",))),
                    Param("class_weight", _choice("none", "balanced")),
                ),
                "regression": (
                    Param("alpha", _log_float(1e-6, 10.0)),
                    Param("l1_ratio", FloatDistribution(0.0, 1.0)),
                ),
            },
            {
                "classification": {"C": 1.0, "penalty": "l2", "class_weight": "none"},
                "regression": {"alpha": 1.0, "l1_ratio": 0.5},
            },
            _linear,
            "scaled",
        ),
        Family(
            "svm",
            {"classification": _SVM_CLS, "regression": _SVM_REG},
            {"classification": {"C": 1.0, "gamma": 1.0},
             "regression": {"C": 1.0, "gamma": 1.0, "epsilon": 0.1}},
            _svm,
            "scaled",
        ),
        Family("knn", *_same(_KNN, {"n_neighbors": 5, "weights": "uniform", "p": 2}), _knn,
               "scaled", weighs_rows=False),
        Family("mlp", *_same(_MLP, _MLP_DEFAULT), _mlp, "scaled"),
    )
}


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def get_family(name: str) -> Family:
    """The family called ``name``; :class:`UnknownFamilyError` lists the known ones."""
    try:
        return FAMILIES[name]
    except (KeyError, TypeError):
        raise UnknownFamilyError(
            f"unknown model family {name!r}; known families: {sorted(FAMILIES)}"
        ) from None


def default_params(family: str, task: str) -> dict:
    """The family's default configuration for ``task`` (a fresh dict)."""
    _check_task(task)
    return dict(get_family(family).defaults[task])


def search_space(family: str, task: str) -> dict[str, BaseDistribution]:
    """All the family's parameters as Optuna distributions, conditional ones included."""
    return {p.name: p.distribution for p in get_family(family).params(task)}


def active_params(family: str, task: str, params: Mapping) -> dict:
    """``params`` restricted to the parameters active under their conditions."""
    return {p.name: params[p.name] for p in get_family(family).params(task)
            if p.is_active(params) and p.name in params}


def validate_params(family: str, task: str, params: Mapping) -> dict:
    """Check that ``params`` is a point of the family's space; return the active part.

    Raises :class:`InvalidParamsError` naming unknown, missing or out-of-range parameters.
    """
    space = get_family(family).params(task)
    if not isinstance(params, Mapping):
        raise InvalidParamsError(
            f"{family}: a configuration must be a dict, got {type(params).__name__}")
    known = {p.name for p in space}
    unknown = sorted(set(params) - known)
    if unknown:
        raise InvalidParamsError(f"{family}: unknown parameters {unknown}; known: {sorted(known)}")
    out = {}
    for p in space:
        if not p.is_active(params):
            continue
        if p.name not in params:
            raise InvalidParamsError(f"{family}: parameter {p.name!r} is missing")
        value = params[p.name]
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(p.distribution, IntDistribution) and isinstance(value, float) and (
                value.is_integer()):
            value = int(value)  # e.g. read back from a float column of a table
        if not _contains(p.distribution, value):
            raise InvalidParamsError(
                f"{family}: {p.name}={value!r} is outside its space {p.distribution!r}"
            )
        out[p.name] = value
    return out


def _contains(dist: BaseDistribution, value) -> bool:
    if isinstance(dist, CategoricalDistribution):
        return any(value == c and type(value) is type(c) for c in dist.choices)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(dist, IntDistribution) and value != int(value):
        return False
    return dist.low <= value <= dist.high


def suggest(trial: optuna.Trial, family: str, task: str, prefix: str = "") -> dict:
    """Sample a configuration of ``family`` from an Optuna trial (define-by-run).

    Parameter names in the trial are ``prefix + name``; conditional parameters are only
    suggested when active.
    """
    params: dict = {}
    for p in get_family(family).params(task):
        if p.is_active(params):
            params[p.name] = suggest_distribution(trial, prefix + p.name, p.distribution)
    return params


def suggest_distribution(trial: optuna.Trial, name: str, dist: BaseDistribution):
    """Ask ``trial`` for ``name`` through the public ``suggest_*`` matching ``dist``."""
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)


def from_unit(family: str, task: str, u: np.ndarray) -> dict:
    """Map a point of the unit hypercube (one coordinate per parameter) into the space.

    Used with a Sobol sequence to lay out a space-filling design of configurations.
    """
    space = get_family(family).params(task)
    if len(u) != len(space):
        raise ValueError(f"{family}: need {len(space)} unit coordinates, got {len(u)}")
    params: dict = {}
    for p, x in zip(space, u, strict=True):
        value = _from_unit(p.distribution, float(np.clip(x, 0.0, 1.0 - 1e-12)))
        if p.is_active(params):
            params[p.name] = value
    return params


def _from_unit(dist: BaseDistribution, x: float):
    if isinstance(dist, CategoricalDistribution):
        return dist.choices[int(x * len(dist.choices))]
    if dist.log:
        value = math.exp(math.log(dist.low) + x * (math.log(dist.high) - math.log(dist.low)))
    else:
        value = dist.low + x * (dist.high - dist.low)
    if isinstance(dist, IntDistribution):
        return int(min(max(round(value), dist.low), dist.high))
    return float(min(max(value, dist.low), dist.high))  # exp(log(x)) can round off x


def to_unit(family: str, task: str, params: Mapping) -> np.ndarray:
    """The unit-hypercube point that :func:`from_unit` maps to ``params`` (its inverse).

    Categoricals map to the centre of their cell; inactive or absent parameters to 0.5.
    """
    space = get_family(family).params(task)
    out = np.full(len(space), 0.5)
    for j, p in enumerate(space):
        if p.name in params and p.is_active(params):
            out[j] = unit_coordinate(p.distribution, params[p.name])
    return out


def unit_coordinate(dist: BaseDistribution, value) -> float:
    """Where ``value`` lies in ``dist`` on [0, 1] (log scale when ``dist.log``)."""
    if isinstance(dist, CategoricalDistribution):
        return (dist.choices.index(value) + 0.5) / len(dist.choices)
    return float(min(max(_to_unit(dist, value), 0.0), 1.0))


def value_from_unit(dist: BaseDistribution, x: float):
    """The value of ``dist`` at unit coordinate ``x`` (inverse of :func:`unit_coordinate`)."""
    return _from_unit(dist, float(np.clip(x, 0.0, 1.0 - 1e-12)))


def _to_unit(dist: BaseDistribution, value) -> float:
    if dist.log:
        return (math.log(value) - math.log(dist.low)) / (math.log(dist.high) - math.log(dist.low))
    return (value - dist.low) / (dist.high - dist.low) if dist.high > dist.low else 0.0


def encoding_size(family: str, task: str) -> int:
    """Length of :func:`encode`'s vector for this family."""
    size = 0
    for p in get_family(family).params(task):
        dist = p.distribution
        size += len(dist.choices) if isinstance(dist, CategoricalDistribution) else 1
        size += p.condition is not None  # an "is active" indicator
    return size


def encode(family: str, task: str, params: Mapping) -> np.ndarray:
    """Encode a configuration as a fixed-length float vector in [0, 1].

    Numeric parameters map to [0, 1] on their (log) scale, categoricals one-hot,
    conditional parameters get an "is active" indicator and 0 when inactive.
    """
    out = []
    for p in get_family(family).params(task):
        dist = p.distribution
        active = p.is_active(params) and p.name in params
        if isinstance(dist, CategoricalDistribution):
            out.extend(float(active and params[p.name] == c) for c in dist.choices)
        else:
            out.append(_to_unit(dist, params[p.name]) if active else 0.0)
        if p.condition is not None:
            out.append(float(active))
    return np.asarray(out, dtype=np.float32)


# ---------------------------------------------------------------------------------------
# Preprocessing and pipelines


class CategoryFixer(TransformerMixin, BaseEstimator):
    """Pin each categorical column to the categories seen in ``fit``.

    Unseen categories at transform time become missing, which LightGBM and
    HistGradientBoosting treat natively. Columns with more than ``max_categories``
    categories are turned into their float codes (an ordinal encoding). Columns without
    any value in the rows of ``fit`` (a mostly missing column, in some training folds)
    are left out: HistGradientBoosting fails on them. Output columns get names without
    the JSON special characters that LightGBM refuses.
    """

    def __init__(self, max_categories: int | None = None):
        self.max_categories = max_categories

    def fit(self, X: pd.DataFrame, y=None):
        values = X.count().to_numpy()  # non-missing values per column, all at once
        self.empty_ = list(X.columns[values == 0])
        kept = list(X.columns[values > 0])
        self.categories_ = {
            c: list(X[c].cat.categories)
            for c in kept
            if isinstance(X[c].dtype, pd.CategoricalDtype)
        }
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.feature_names_out_ = _safe_names(kept)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        empty = getattr(self, "empty_", [])  # none in models fitted before it was kept
        X = X.drop(columns=empty) if empty else X.copy()
        for c, cats in self.categories_.items():
            dtype = X[c].dtype
            if (isinstance(dtype, pd.CategoricalDtype) and not dtype.ordered
                    and dtype.categories.equals(pd.Index(cats))):
                col = X[c].array  # already pinned (as in cross-validation): nothing to redo
            else:
                values = X[c].astype(object)
                col = pd.Categorical(values.where(values.isin(cats)), categories=cats)
            if self.max_categories is not None and len(cats) > self.max_categories:
                X[c] = np.where(col.codes < 0, np.nan, col.codes).astype(float)
            else:
                X[c] = col
        X.columns = self.feature_names_out_
        return X

    def get_feature_names_out(self, input_features=None):
        return np.asarray(self.feature_names_out_, dtype=object)


def _safe_names(names: list[str]) -> list[str]:
    """Names without ``[]{}":,`` (LightGBM's JSON model format), kept unique."""
    out, seen = [], set()
    for name in names:
        safe = re.sub(r'[\[\]{}":,]', "_", str(name))
        while safe in seen:
            safe += "_"
        seen.add(safe)
        out.append(safe)
    return out


class _Categories(TransformerMixin, BaseEstimator):
    """Base of the encoders of category columns below, which give scikit-learn's
    encoders' output from the columns' category codes. scikit-learn's turn every value
    into a Python object and look it up: on 50,000 rows x 40 columns, 5 to 14 times as
    long (benchmarks/preprocessing.py). Each column's categories are the values seen in
    ``fit``, sorted, then missing if seen, as in scikit-learn."""

    def fit(self, X: pd.DataFrame, y=None):
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.categories_, self.has_missing_ = [], []
        for col in self._columns(X):
            codes = np.unique(col.cat.codes.to_numpy())
            missing = bool(len(codes) and codes[0] < 0)
            values = sorted(col.cat.categories[codes[codes >= 0]])
            self.categories_.append(np.asarray(values + [np.nan] * missing, dtype=object))
            self.has_missing_.append(missing)
        return self

    def _positions(self, X: pd.DataFrame):
        """Per column, each row's position among fit's values (the missing category's,
        when fit saw missing values; -1 for a value fit did not see) and whether it is
        missing."""
        for j, col in enumerate(self._columns(X)):
            known, missing = self.categories_[j], self.has_missing_[j]
            position = {v: i for i, v in enumerate(known[:len(known) - missing])}
            # This frame's codes -> positions in fit's; the last entry is for code -1.
            lookup = np.array([position.get(v, -1) for v in col.cat.categories]
                              + [len(known) - 1 if missing else -1], dtype=np.intp)
            codes = col.cat.codes.to_numpy()
            yield lookup[codes], codes < 0

    @staticmethod
    def _columns(X: pd.DataFrame):
        for name in X.columns:
            col = X[name]
            yield col if isinstance(col.dtype, pd.CategoricalDtype) else col.astype("category")


class _OneHot(_Categories):
    """``OneHotEncoder(handle_unknown="ignore", sparse_output=False)``: its output, column
    order and names (a value not seen in fit gives zeros)."""

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        sizes = [len(c) for c in self.categories_]
        offsets = np.cumsum([0, *sizes])
        out = np.zeros((len(X), offsets[-1]))
        rows = np.arange(len(X))
        for j, (position, _) in enumerate(self._positions(X)):
            hit = position >= 0
            out[rows[hit], offsets[j] + position[hit]] = 1.0
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray([f"{name}_{value}" for name, values in
                           zip(self.feature_names_in_, self.categories_, strict=True)
                           for value in values], dtype=object)


class _Ordinal(_Categories):
    """``OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
    encoded_missing_value=-1)``: a value's position among fit's sorted values, -1 for a
    missing value or one fit did not see."""

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(X), len(self.categories_)))
        for j, (position, missing) in enumerate(self._positions(X)):
            out[:, j] = np.where(missing, -1, position)
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return self.feature_names_in_.copy()


class _GammaScaler(TransformerMixin, BaseEstimator):
    """Scale X so that an RBF ``gamma`` of 1 means sklearn's ``gamma="scale"``."""

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=float)
        variance = X.var() if X.size else 1.0
        self.factor_ = 1.0 / math.sqrt(X.shape[1] * variance) if variance > 0 else 1.0
        return self

    def transform(self, X):
        return np.asarray(X, dtype=float) * self.factor_


class _Columns:
    """A ColumnTransformer's column selector: the positions of ``names`` in the frame.
    scikit-learn looks names up one by one in a list, which takes seconds on 10,000
    columns (quadratic); positions are taken as they are."""

    def __init__(self, names: list[str]):
        self.names = names

    def __call__(self, X: pd.DataFrame) -> list[int]:
        position = {name: i for i, name in enumerate(X.columns)}
        return [position[name] for name in self.names]

    def __repr__(self) -> str:
        shown = ", ".join(map(repr, self.names[:5])) + (", ..." if len(self.names) > 5 else "")
        return f"_Columns([{shown}])"


def _preprocessor(kind: str, schema: Schema, task: str, seed: int):
    numeric = _Columns(list(schema.numeric))
    low = [c for c, k in schema.categorical.items() if k <= ONE_HOT_MAX_CATEGORIES]
    high = [c for c, k in schema.categorical.items() if k > ONE_HOT_MAX_CATEGORIES]
    if kind == "native":
        return CategoryFixer(max_categories=250)
    parts = []
    if kind == "ordinal":
        if numeric.names:
            parts.append(("num", SimpleImputer(strategy="median"), numeric))
        if low or high:
            parts.append(("cat", _Ordinal(), _Columns(low + high)))
    else:
        if numeric.names:
            parts.append(("num", Pipeline([
                ("impute", SimpleImputer(strategy="median", add_indicator=True)),
                ("scale", StandardScaler()),
            ]), numeric))
        if low:
            parts.append(("onehot", _OneHot(), _Columns(low)))
        if high:
            target_type = "continuous" if task == "regression" else "auto"
            parts.append(("target", Pipeline([
                ("encode", _target_encoder(target_type, seed)),
                ("scale", StandardScaler()),
            ]), _Columns(high)))
    return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)


def _target_encoder(target_type: str, seed: int) -> TargetEncoder:
    """A TargetEncoder whose cross fitting is shuffled with ``seed``: through ``cv`` from
    scikit-learn 1.9 (``shuffle``/``random_state`` are deprecated there), else directly."""
    if "deprecated" in str(inspect.signature(TargetEncoder).parameters["random_state"]):
        splitter = KFold if target_type == "continuous" else StratifiedKFold
        return TargetEncoder(target_type=target_type,
                             cv=splitter(5, shuffle=True, random_state=seed))
    return TargetEncoder(target_type=target_type, random_state=seed)


def build_pipeline(
    family: str,
    params: Mapping,
    schema: Schema,
    task: str,
    *,
    seed: int = 0,
    n_jobs: int = 1,
) -> Pipeline:
    """One sklearn Pipeline: the preprocessing ``family`` needs, then its estimator.

    ``params`` must lie in the family's space (see :func:`validate_params`).

    Example
    -------
    >>> from automl_meta.data import Schema
    >>> pipe = build_pipeline("svm", {"C": 1.0, "gamma": 1.0}, Schema(("a", "b")),
    ...                       "classification")
    >>> [name for name, _ in pipe.steps]
    ['preprocess', 'gamma', 'model']
    """
    fam = get_family(family)
    params = validate_params(family, task, params)
    steps = [("preprocess", _preprocessor(fam.preprocessing, schema, task, seed))]
    if family == "svm":
        steps.append(("gamma", _GammaScaler()))
    model = fam.make_estimator(params, task, seed, n_jobs)
    if task == "regression" and fam.preprocessing == "scaled":
        # Penalties, SVR's epsilon and MLP training assume a target of unit scale.
        model = TransformedTargetRegressor(regressor=model, transformer=StandardScaler())
    steps.append(("model", model))
    return Pipeline(steps)


def fit_pipeline(pipeline: Pipeline, X: pd.DataFrame, y, sample_weight=None) -> Pipeline:
    """Fit a pipeline of :func:`build_pipeline`; ``sample_weight`` (one weight per row)
    weighs the rows in the model's training (the preprocessing is fit unweighted)."""
    if sample_weight is None:
        return pipeline.fit(X, y)
    return pipeline.fit(X, y, model__sample_weight=sample_weight)


__all__ = [
    "FAMILIES",
    "CategoryFixer",
    "Family",
    "Param",
    "active_params",
    "build_pipeline",
    "default_params",
    "encode",
    "encoding_size",
    "fit_pipeline",
    "from_unit",
    "get_family",
    "search_space",
    "suggest",
    "suggest_distribution",
    "to_unit",
    "unit_coordinate",
    "validate_params",
    "value_from_unit",
]
