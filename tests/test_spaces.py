"""Search spaces, parameter checks, encodings and the sklearn pipelines of every family."""

from __future__ import annotations

import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import HIGH_CARD, mixed_frame, mixed_target
from optuna.distributions import CategoricalDistribution
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder
from sklearn.utils.validation import has_fit_parameter

import automl_meta.spaces as spaces
from automl_meta.data import TASKS, Schema, make_dataset
from automl_meta.exceptions import InvalidParamsError, UnknownFamilyError
from automl_meta.spaces import (
    FAMILIES,
    ONE_HOT_MAX_CATEGORIES,
    CategoryFixer,
    active_params,
    build_pipeline,
    default_params,
    encode,
    encoding_size,
    fit_pipeline,
    from_unit,
    get_family,
    search_space,
    suggest,
    validate_params,
)

CASES = [(family, task) for family in sorted(FAMILIES) for task in TASKS]
CASE_IDS = [f"{family}-{task}" for family, task in CASES]


def _configs(family: str, task: str, n: int = 3, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    size = len(get_family(family).params(task))
    return [from_unit(family, task, rng.random(size)) for _ in range(n)]


def test_families_are_the_documented_eight():
    assert sorted(FAMILIES) == [
        "extra_trees", "hist_gradient_boosting", "knn", "lightgbm", "linear", "mlp",
        "random_forest", "svm",
    ]
    assert default_params("knn", "classification") == {
        "n_neighbors": 5, "weights": "uniform", "p": 2}


@pytest.mark.parametrize(("family", "task"), CASES, ids=CASE_IDS)
def test_defaults_validate_and_are_fresh_dicts(family, task):
    params = default_params(family, task)
    assert validate_params(family, task, params) == params
    params["__junk__"] = 1  # a copy: the family's defaults stay untouched
    assert "__junk__" not in default_params(family, task)


@pytest.mark.parametrize(("family", "task"), CASES, ids=CASE_IDS)
def test_pipelines_fit_and_predict_defaults_and_design_points(family, task, single_thread):
    X = mixed_frame(60, seed=1)
    y = mixed_target(X, task, n_classes=3)
    data = make_dataset(X, y)
    assert data.schema.categorical == {"low": 3, "high": len(HIGH_CARD)}
    # New rows: an unseen category in both categorical columns, and missing values.
    X_new = data.X.iloc[:6].copy()
    X_new["low"] = pd.Categorical(["purple", "red", None, "blue", "green", "purple"])
    X_new["high"] = pd.Categorical(["zz", "h01", None, "h02", "qq", "h03"])
    X_new.loc[0, "num1"] = np.nan
    configs = [default_params(family, task), *_configs(family, task, 3, seed=7)]
    for params in configs:
        # Small data makes some design points degenerate (k > rows, few leaves); that
        # is the evaluation's business, so only use a k the 60 rows can support.
        if family == "knn":
            params = {**params, "n_neighbors": min(params["n_neighbors"], 40)}
        pipe = build_pipeline(family, params, data.schema, task, seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipe.fit(data.X, data.y)
            predictions = pipe.predict(data.X)
            new_predictions = pipe.predict(X_new)
        assert predictions.shape == (60,), params
        assert new_predictions.shape == (6,), params
        if task == "classification":
            assert set(np.unique(new_predictions)) <= {"c0", "c1", "c2"}
            proba = pipe.predict_proba(X_new)
            assert proba.shape == (6, 3)
            np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
            assert list(pipe.classes_) == ["c0", "c1", "c2"]
        else:
            assert np.all(np.isfinite(new_predictions)), params
            assert new_predictions.dtype.kind == "f"


def test_svm_pipeline_has_gamma_step():
    pipe = build_pipeline("svm", {"C": 1.0, "gamma": 1.0}, Schema(("a", "b")), "classification")
    assert [name for name, _ in pipe.steps] == ["preprocess", "gamma", "model"]
    pipe = build_pipeline("knn", default_params("knn", "regression"), Schema(("a",)),
                          "regression")
    assert [name for name, _ in pipe.steps] == ["preprocess", "model"]
    # Scaled families standardise a regression target.
    assert type(pipe.named_steps["model"]).__name__ == "TransformedTargetRegressor"


def test_svm_classifier_fits_without_deprecation_warnings():
    # scikit-learn 1.9 deprecates SVC(probability=True) with a FutureWarning on every fit,
    # which users would see at each refit of an svm model they never built themselves.
    X = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) % 7})
    y = np.arange(40) % 2
    pipe = build_pipeline("svm", default_params("svm", "classification"), Schema(("a", "b")),
                          "classification")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proba = pipe.fit(X, y).predict_proba(X)
    assert pipe.named_steps["model"].probability
    assert proba.shape == (40, 2)


def test_build_pipeline_checks_params():
    with pytest.raises(InvalidParamsError, match=r"n_neighbors=0 is outside its space"):
        build_pipeline("knn", {"n_neighbors": 0, "weights": "uniform", "p": 2},
                       Schema(("a",)), "classification")


# ---------------------------------------------------------------------------------------
# validate_params


def test_unknown_parameter():
    params = {**default_params("knn", "classification"), "leaf_size": 30}
    with pytest.raises(InvalidParamsError, match=r"knn: unknown parameters \['leaf_size'\]"):
        validate_params("knn", "classification", params)


def test_missing_parameter():
    with pytest.raises(InvalidParamsError, match=r"knn: parameter 'p' is missing"):
        validate_params("knn", "classification", {"n_neighbors": 5, "weights": "uniform"})


@pytest.mark.parametrize(
    ("family", "name", "value"),
    [
        ("knn", "n_neighbors", 65),
        ("knn", "n_neighbors", 2.5),
        ("lightgbm", "learning_rate", 0.9),
        ("lightgbm", "subsample", 0.1),
        ("svm", "C", float("nan")),
        ("svm", "C", "1.0"),
        ("random_forest", "bootstrap", 1),
        ("knn", "p", True),
    ],
)
def test_out_of_range_or_wrong_type(family, name, value):
    params = {**default_params(family, "classification"), name: value}
    with pytest.raises(InvalidParamsError, match=rf"{family}: {name}=.* is outside its space"):
        validate_params(family, "classification", params)


def test_wrong_categorical_choice():
    params = {**default_params("knn", "classification"), "weights": "gaussian"}
    with pytest.raises(InvalidParamsError, match=r"weights='gaussian' is outside its space"):
        validate_params("knn", "classification", params)


def test_numpy_scalars_are_accepted_as_python_values():
    params = {"n_neighbors": np.int64(7), "weights": np.str_("distance"), "p": np.int64(1)}
    out = validate_params("knn", "classification", params)
    assert out == {"n_neighbors": 7, "weights": "distance", "p": 1}
    assert type(out["n_neighbors"]) is int


def test_integral_float_for_int_param_is_rejected_or_made_int():
    params = {"n_neighbors": 5.0, "weights": "uniform", "p": 2}
    try:
        out = validate_params("knn", "classification", params)
    except InvalidParamsError:
        return
    assert type(out["n_neighbors"]) is int


def test_unknown_family():
    with pytest.raises(UnknownFamilyError, match=r"unknown model family 'xgboost'; known"):
        get_family("xgboost")
    with pytest.raises(UnknownFamilyError, match="unknown model family"):
        validate_params("xgboost", "classification", {})
    with pytest.raises(UnknownFamilyError, match="unknown model family"):
        default_params("nope", "regression")


def test_unknown_task():
    with pytest.raises(ValueError, match=r"task must be one of"):
        default_params("knn", "ranking")


def test_conditional_l1_ratio():
    base = {"C": 1.0, "class_weight": "none"}
    # Active with elasticnet: required and kept.
    with pytest.raises(InvalidParamsError, match=r"'l1_ratio' is missing"):
        validate_params("linear", "classification", {**base, "penalty": "elasticnet"})
    elastic = {**base, "penalty": "elasticnet", "l1_ratio": 0.3}
    assert validate_params("linear", "classification", elastic) == elastic
    # Inactive with l2: not required, and dropped when given.
    l2 = {**base, "penalty": "l2"}
    assert validate_params("linear", "classification", l2) == l2
    assert validate_params("linear", "classification", {**l2, "l1_ratio": 0.3}) == l2
    assert active_params("linear", "classification", {**l2, "l1_ratio": 0.3}) == l2
    # Inactive but out of range is not checked; active and out of range is.
    with pytest.raises(InvalidParamsError, match=r"l1_ratio=1.5 is outside"):
        validate_params("linear", "classification", {**elastic, "l1_ratio": 1.5})
    # In regression l1_ratio is unconditional.
    with pytest.raises(InvalidParamsError, match=r"'l1_ratio' is missing"):
        validate_params("linear", "regression", {"alpha": 1.0})


def test_elasticnet_builds_saga_logistic_regression():
    params = {"C": 0.5, "penalty": "elasticnet", "l1_ratio": 0.4, "class_weight": "balanced"}
    model = build_pipeline("linear", params, Schema(("a",)), "classification").named_steps[
        "model"]
    assert (model.solver, model.l1_ratio, model.C, model.class_weight) == (
        "saga", 0.4, 0.5, "balanced")
    l2 = build_pipeline("linear", {**params, "penalty": "l2"}, Schema(("a",)),
                        "classification").named_steps["model"]
    assert (l2.solver, l2.l1_ratio) == ("lbfgs", 0.0)


def test_elasticnet_penalty_is_applied_not_only_passed():
    # scikit-learn before 1.8 ignores l1_ratio unless penalty="elasticnet" is also given,
    # and would fit these configurations as L2 without a word (setup.cfg asks for 1.8).
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(300, 20)), columns=[f"x{i}" for i in range(20)])
    y = (X["x0"] + X["x1"] > 0).astype(int)
    params = {"C": 0.05, "penalty": "elasticnet", "l1_ratio": 0.9, "class_weight": "none"}
    sparse = build_pipeline("linear", params, Schema(tuple(X.columns)), "classification")
    dense = build_pipeline("linear", {**params, "penalty": "l2"}, Schema(tuple(X.columns)),
                           "classification")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sparse_coef = sparse.fit(X, y).named_steps["model"].coef_
        dense_coef = dense.fit(X, y).named_steps["model"].coef_
    assert (sparse_coef == 0).sum() >= 10
    assert (dense_coef == 0).sum() == 0


# ---------------------------------------------------------------------------------------
# Encoding, unit-cube design and Optuna


def test_encoding_size_of_linear_classification():
    # C, penalty (2 choices), l1_ratio + active flag, class_weight (2 choices)
    assert encoding_size("linear", "classification") == 7
    vector = encode("linear", "classification",
                    {"C": 1e4, "penalty": "l2", "class_weight": "balanced"})
    np.testing.assert_allclose(vector, [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    vector = encode("linear", "classification",
                    {"C": 1e-4, "penalty": "elasticnet", "l1_ratio": 0.25,
                     "class_weight": "none"})
    np.testing.assert_allclose(vector, [0.0, 0.0, 1.0, 0.25, 1.0, 1.0, 0.0])


def test_encode_log_scale():
    # n_neighbors is log-uniform on [1, 64]: 8 is half way.
    vector = encode("knn", "classification", {"n_neighbors": 8, "weights": "distance", "p": 1})
    np.testing.assert_allclose(vector, [0.5, 0.0, 1.0, 1.0, 0.0], atol=1e-6)


@pytest.mark.parametrize(("family", "task"), CASES, ids=CASE_IDS)
def test_encode_from_unit_and_suggest(family, task):
    size = encoding_size(family, task)
    configs = [default_params(family, task), *_configs(family, task, 5, seed=11)]
    configs.append(from_unit(family, task, np.ones(len(get_family(family).params(task)))))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        trial = study.ask()
        suggested = suggest(trial, family, task, prefix=f"{family}.")
        assert set(trial.params) == {f"{family}.{k}" for k in suggested}
        configs.append(suggested)
    for params in configs:
        assert validate_params(family, task, params) == params
        vector = encode(family, task, params)
        assert vector.shape == (size,)
        assert vector.dtype == np.float32
        assert np.all((vector >= 0.0) & (vector <= 1.0)), (params, vector)


@pytest.mark.parametrize(("family", "task"), CASES)
def test_from_unit_low_corner_is_the_space_minimum_and_validates(family, task):
    space = search_space(family, task)
    low_corner = from_unit(family, task, np.zeros(len(space)))
    for name, value in low_corner.items():
        dist = space[name]
        if isinstance(dist, CategoricalDistribution):
            assert value == dist.choices[0], name
        else:
            assert value == pytest.approx(dist.low, rel=1e-9), name
    assert validate_params(family, task, low_corner) == low_corner


def test_from_unit_wrong_length():
    with pytest.raises(ValueError, match=r"knn: need 3 unit coordinates, got 2"):
        from_unit("knn", "classification", np.array([0.1, 0.2]))


def test_from_unit_maps_and_skips_inactive():
    params = from_unit("linear", "classification", np.array([0.5, 0.0, 0.9, 0.99]))
    assert params == {"C": pytest.approx(1.0), "penalty": "l2", "class_weight": "balanced"}
    params = from_unit("linear", "classification", np.array([1.0, 0.7, 0.9, 0.0]))
    assert params == {"C": pytest.approx(1e4), "penalty": "elasticnet",
                      "l1_ratio": pytest.approx(0.9), "class_weight": "none"}


def test_suggest_conditional_only_when_active():
    study = optuna.create_study()
    seen = set()
    for _ in range(12):
        trial = study.ask()
        params = suggest(trial, "linear", "classification")
        seen.add(params["penalty"])
        assert ("l1_ratio" in params) == (params["penalty"] == "elasticnet")
        assert ("l1_ratio" in trial.params) == (params["penalty"] == "elasticnet")
        study.tell(trial, 0.0)
    assert seen == {"l2", "elasticnet"}


# ---------------------------------------------------------------------------------------
# CategoryFixer


def test_category_fixer_unseen_to_nan_and_high_cardinality_to_codes():
    train = pd.DataFrame({
        "few": pd.Categorical(["a", "b", "a", "c"]),
        "many": pd.Categorical(["p", "q", "r", "s"]),
        "x": [1.0, 2.0, 3.0, 4.0],
    })
    fixer = CategoryFixer(max_categories=3).fit(train)
    assert fixer.categories_ == {"few": ["a", "b", "c"], "many": ["p", "q", "r", "s"]}
    test = pd.DataFrame({
        "few": pd.Categorical(["c", "zzz", None]),
        "many": pd.Categorical(["s", "new", "p"]),
        "x": [5.0, 6.0, 7.0],
    })
    out = fixer.transform(test)
    assert list(out["few"].cat.categories) == ["a", "b", "c"]
    assert out["few"].tolist()[0] == "c"
    assert out["few"].isna().tolist() == [False, True, True]
    assert out["many"].dtype == np.float64
    np.testing.assert_array_equal(out["many"].to_numpy(), [3.0, np.nan, 0.0])
    assert out["x"].tolist() == [5.0, 6.0, 7.0]
    # The input is not modified.
    assert test["few"].tolist()[1] == "zzz"
    assert list(fixer.get_feature_names_out()) == ["few", "many", "x"]


@pytest.mark.parametrize("family", ["knn", "random_forest"])  # scaled, ordinal
def test_the_column_transformer_selects_columns_by_position(family, monkeypatch):
    # Names were looked up one by one (quadratic: seconds on 10,000 columns); positions
    # give the same output, in the same order, with the columns interleaved by kind.
    X = mixed_frame(80)[["high", "num1", "low", "num2"]]
    y = mixed_target(X, "classification")
    schema = make_dataset(X, y).schema
    pipe = build_pipeline(family, default_params(family, "classification"), schema,
                          "classification")
    columns = [c for _, _, c in pipe[0].transformers]
    assert [c(X) for c in columns] == ([[1, 3], [2], [0]] if family == "knn" else
                                       [[1, 3], [2, 0]])
    positions = pipe[0].fit_transform(X, y)
    fitted = pickle.loads(pickle.dumps(fit_pipeline(pipe, X, y)))
    np.testing.assert_array_equal(fitted.predict_proba(X), pipe.predict_proba(X))

    class Names(list):  # the lists of names given before
        names = property(list)

    monkeypatch.setattr(spaces, "_Columns", Names)
    by_name = build_pipeline(family, default_params(family, "classification"), schema,
                             "classification")
    assert [c for _, _, c in by_name[0].transformers] == [c.names for c in columns]
    np.testing.assert_array_equal(positions, by_name[0].fit_transform(X, y))
    assert list(pipe[0].get_feature_names_out()) == list(by_name[0].get_feature_names_out())


def _category_frame(rng, rows: int, values: list[str], extra: tuple = ()) -> pd.DataFrame:
    """Category columns holding ``values``, ``extra`` and missing values, each column's
    categories in a random order (as an ARFF file declares them)."""
    columns = {}
    for j in range(3):
        held = rng.choice([*values, *extra, None], rows).astype(object)
        order = rng.permutation(sorted({*values, *extra})).tolist()
        columns[f"c{j}"] = pd.Categorical(held, categories=order)
    return pd.DataFrame(columns)


@pytest.mark.parametrize(("ours", "theirs"), [
    (spaces._OneHot, lambda: OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
    (spaces._Ordinal, lambda: OrdinalEncoder(handle_unknown="use_encoded_value",
                                             unknown_value=-1, encoded_missing_value=-1)),
])
def test_the_encoders_from_category_codes_give_scikit_learns_output(ours, theirs):
    # Values fit did not see, categories fit's rows do not hold, missing values seen in
    # fit or not, other category orders, and columns of another dtype at transform.
    rng = np.random.default_rng(0)
    for _ in range(100):
        values = [f"v{i}" for i in rng.permutation(8)[:rng.integers(1, 8)]]
        fit_rows = _category_frame(rng, int(rng.integers(1, 40)), values)
        later = _category_frame(rng, int(rng.integers(1, 40)), values, ("new", "v9"))
        mine, reference = ours().fit(fit_rows), theirs().fit(fit_rows)
        for X in (fit_rows, later, later.astype(object)):
            expected = reference.transform(X)
            got = mine.transform(X)
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)
        assert list(mine.get_feature_names_out()) == list(reference.get_feature_names_out())


def test_category_fixer_leaves_out_columns_without_a_value_in_its_training_rows():
    # A mostly missing column is entirely missing in some training folds, where
    # HistGradientBoosting fails ("window shape cannot be larger than input array shape").
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "sparse": np.nan,
                          "c": pd.Categorical([None] * 4, categories=["a", "b"])})
    fixer = CategoryFixer().fit(train)
    assert fixer.empty_ == ["sparse", "c"]
    out = fixer.transform(pd.DataFrame({"x": [5.0], "sparse": [7.0],
                                        "c": pd.Categorical(["a"], categories=["a", "b"])}))
    assert list(out.columns) == list(fixer.get_feature_names_out()) == ["x"]
    data = make_dataset(pd.DataFrame({"x": np.arange(40.0), "sparse": [1.0] + [np.nan] * 39}),
                        np.arange(40) % 2)
    train_rows = data.X.iloc[1:]  # without the one value
    for family in ("hist_gradient_boosting", "lightgbm"):
        pipe = build_pipeline(family, default_params(family, "classification"), data.schema,
                              "classification")
        fit_pipeline(pipe, train_rows, data.y.iloc[1:])
        assert pipe.predict_proba(data.X).shape == (40, 2)


def test_category_fixer_without_cap_keeps_categoricals():
    train = pd.DataFrame({"c": pd.Categorical([f"v{i}" for i in range(ONE_HOT_MAX_CATEGORIES
                                                                       + 5)])})
    out = CategoryFixer().fit(train).transform(pd.DataFrame({"c": ["v3", "v99"]}))
    assert isinstance(out["c"].dtype, pd.CategoricalDtype)
    assert out["c"].isna().tolist() == [False, True]


def test_category_fixer_keeps_the_fitted_order_of_categories():
    train = pd.DataFrame({"c": pd.Categorical(["a", "b", "c", "a"]),
                          "d": pd.Categorical(["p", "q", "p", "q"])})
    fixer = CategoryFixer(max_categories=2).fit(train)  # "c" becomes its codes
    # Pinned already, as a fold of the same data is: "d" passes through as it is.
    out = fixer.transform(train.iloc[2:])
    pd.testing.assert_series_equal(out["d"], train["d"].iloc[2:])
    assert out["c"].tolist() == [2.0, 0.0]
    # The same categories in another order (equal as unordered dtypes) are recoded.
    shuffled = pd.DataFrame({"c": pd.Categorical(["c", "a"], categories=["c", "b", "a"]),
                             "d": pd.Categorical(["q", "p"], categories=["q", "p"])})
    out = fixer.transform(shuffled)
    assert out["c"].tolist() == [2.0, 0.0]
    assert list(out["d"].cat.categories) == ["p", "q"]
    assert out["d"].cat.codes.tolist() == [1, 0]


def test_category_fixer_does_not_rely_on_deprecated_pandas_behaviour():
    fixer = CategoryFixer().fit(pd.DataFrame({"c": pd.Categorical(["a", "b"])}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = fixer.transform(pd.DataFrame({"c": pd.Categorical(["a", "unseen"])}))
    assert out["c"].isna().tolist() == [False, True]


@pytest.mark.parametrize("family", ["lightgbm", "hist_gradient_boosting"])
def test_native_families_accept_column_names_lightgbm_refuses(family, single_thread):
    # Real data (spambase) has columns such as "char_freq_;" and "word_freq_[": LightGBM
    # refuses JSON special characters in feature names.
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(80, 4)), columns=['a:b', 'a_b', 'x[1]', '{"q"}'])
    y = pd.Series((X.iloc[:, 0] > 0).astype(int))
    ds = make_dataset(X, y)
    model = build_pipeline(family, default_params(family, ds.task), ds.schema, ds.task)
    model.fit(ds.X, ds.y)
    assert model.predict(ds.X).shape == (80,)
    assert list(model[:-1].get_feature_names_out()) == ["a_b", "a_b_", "x_1_", "__q__"]


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_knn_with_more_neighbours_than_rows_uses_every_row(task):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=30), "b": rng.normal(size=30)})
    y = pd.Series(rng.integers(0, 2, 30) if task == "classification" else rng.normal(size=30))
    schema = make_dataset(X, y, task=task).schema
    params = {"n_neighbors": 64, "weights": "uniform", "p": 2}
    pipeline = build_pipeline("knn", params, schema, task).fit(X, y)
    model = pipeline[-1]
    model = getattr(model, "regressor_", model)  # regression scales the target around it
    assert model.n_neighbors == 64 and model.n_neighbors_ == 30  # the parameter is kept
    predicted = pipeline.predict(X)
    expected = y.mode()[0] if task == "classification" else y.mean()
    assert np.allclose(predicted, expected)  # every row is a neighbour of every row
    restored = pickle.loads(pickle.dumps(pipeline))
    assert np.allclose(restored.predict(X), predicted)
    with ThreadPoolExecutor(4) as pool:  # concurrent predictions all see the clipped k
        assert all(np.allclose(p, predicted) for p in pool.map(pipeline.predict, [X] * 40))
    assert model.n_neighbors == 64


@pytest.mark.parametrize(("family", "task"), CASES, ids=CASE_IDS)
def test_a_family_weighs_rows_exactly_when_its_model_takes_sample_weight(family, task):
    X = mixed_frame(60)
    data = make_dataset(X, mixed_target(X, task))
    pipeline = build_pipeline(family, default_params(family, task), data.schema, task)
    model = pipeline.steps[-1][1]
    model = getattr(model, "regressor", model)  # the target scaler's regressor
    assert get_family(family).weighs_rows == has_fit_parameter(model, "sample_weight")
    if get_family(family).weighs_rows:
        weights = np.random.default_rng(0).uniform(0, 2, len(X))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings of a 60-row fit
            fitted = fit_pipeline(pipeline, data.X, data.y, weights)
        assert fitted.predict(data.X).shape == (len(X),)
