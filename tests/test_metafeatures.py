"""Tests of automl_meta.metafeatures: fixed layout, known values, robustness, normalizer."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from automl_meta.exceptions import DataValidationError
from automl_meta.metafeatures import (
    FEATURE_DESCRIPTIONS,
    GROUPS,
    MetaFeatureExtractor,
    MetaFeatureNormalizer,
    _landmarking,
    describe_features,
)

TASKS = ("classification", "regression")


@pytest.fixture(scope="module")
def extractor() -> MetaFeatureExtractor:
    return MetaFeatureExtractor()


def separable() -> tuple[pd.DataFrame, np.ndarray]:
    """12 rows: ``a`` = 1..12 decides the balanced class (a > 6), ``b`` is categorical
    with 3 missing values, ``c`` is constant."""
    X = pd.DataFrame({
        "a": np.arange(1.0, 13.0),
        "b": pd.Categorical(["x", "y", "z", None] * 3),
        "c": np.full(12, 7.0),
    })
    return X, (X["a"].to_numpy() > 6).astype(int)


def mixed(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Numeric with NaN, category, object and bool columns, a constant and an all-NaN one."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n)
    x1[::10] = np.nan
    X = pd.DataFrame({
        "x1": x1,
        "x2": rng.lognormal(size=n),
        "cat": pd.Categorical(rng.choice(["a", "b", "c", None], n)),
        "obj": rng.choice(["u", "v"], n).astype(object),
        "flag": rng.random(n) > 0.3,
        "const": 1.0,
        "empty": np.nan,
    })
    y = pd.Series(np.where(np.nan_to_num(x1) + rng.normal(size=n) > 0, "yes", "no"))
    return X, y


# --- layout -------------------------------------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_feature_names_are_fixed_unique_and_described(extractor, task):
    names = extractor.feature_names(task)
    assert len(names) >= 111 if task == "classification" else len(names) >= 100
    assert len(set(names)) == len(names)
    assert all(FEATURE_DESCRIPTIONS[n].strip() for n in names)
    assert names == MetaFeatureExtractor().feature_names(task)


def test_descriptions_cover_exactly_the_features(extractor):
    every = set(extractor.feature_names("classification")) | set(
        extractor.feature_names("regression"))
    assert set(FEATURE_DESCRIPTIONS) == every
    table = describe_features()
    assert list(table["name"]) == list(FEATURE_DESCRIPTIONS)
    assert set(table["group"]) == set(GROUPS)


def test_every_dataset_gets_the_same_index(extractor):
    first = extractor.extract(*separable())
    second = extractor.extract(*mixed())
    assert list(first.index) == list(second.index) == extractor.feature_names(
        "classification")
    assert first.dtype == np.float64


def test_group_selection_keeps_values_and_order():
    X, y = mixed()
    full = MetaFeatureExtractor().extract(X, y)
    part = MetaFeatureExtractor(groups=("model_based", "general")).extract(X, y)
    assert list(part.index) == [n for n in full.index if n in set(part.index)]
    assert part.index[0] == "n_instances"
    pd.testing.assert_series_equal(part, full[part.index])


def test_docs_list_every_feature():
    docs = Path(__file__).resolve().parents[1] / "docs" / "metafeatures.md"
    text = docs.read_text()
    missing = [n for n in FEATURE_DESCRIPTIONS if f"`{n}`" not in text]
    assert not missing, f"regenerate the docs table: {missing}"


# --- known values -------------------------------------------------------------------


def test_known_values_on_hand_made_data(extractor):
    X, y = separable()
    mf = extractor.extract(X, y)
    assert mf["n_instances"] == 12
    assert mf["n_features"] == 3
    assert mf["log_n_instances"] == pytest.approx(math.log(12))
    assert mf["dimensionality"] == pytest.approx(3 / 12)
    assert (mf["n_numeric"], mf["n_categorical"], mf["n_constant"]) == (2, 1, 1)
    assert mf["cat_card_max"] == 3
    # b holds 3 NaN of the 36 cells, in 3 rows of 12.
    assert mf["missing_cell_ratio"] == pytest.approx(3 / 36)
    assert mf["rows_with_missing_ratio"] == pytest.approx(3 / 12)
    assert mf["cols_with_missing_ratio"] == pytest.approx(1 / 3)
    # A balanced binary class has entropy log2(2) = 1 bit.
    assert mf["class_entropy"] == pytest.approx(1.0)
    assert mf["class_prob_min"] == mf["class_prob_max"] == 0.5
    assert mf["imbalance_ratio"] == 1.0
    # 1..12 is symmetric: skewness 0, kurtosis as scipy's (Fisher, biased).
    assert mf["skew_mean"] == pytest.approx(0.0, abs=1e-12)
    assert mf["kurt_mean"] == pytest.approx(scipy.stats.kurtosis(np.arange(12.0)))
    # Two bins of a split at the class boundary: a carries the whole class entropy.
    assert mf["mutual_info_max"] == pytest.approx(1.0)
    assert mf["attr_entropy_min"] == pytest.approx(0.0)  # the constant column
    # One split separates the classes.
    assert mf["lm_stump_acc"] == 1.0
    assert mf["lm_majority_acc"] == pytest.approx(0.5)
    assert (mf["tree_n_leaves"], mf["tree_depth"]) == (2, 1)
    assert mf["tree_train_error"] == 0.0
    assert mf["tree_root_gain"] == pytest.approx(1.0)
    assert mf["eta2_max"] == pytest.approx(np.corrcoef(X["a"], y)[0, 1] ** 2)


def test_statistics_match_numpy_and_scipy(extractor):
    rng = np.random.default_rng(5)
    X = pd.DataFrame(rng.lognormal(size=(500, 4)), columns=list("abcd"))
    X["d"] = X["a"] * 2 + rng.normal(scale=0.1, size=500)
    mf = extractor.extract(X, rng.integers(0, 3, 500))
    skews = scipy.stats.skew(X.to_numpy(), axis=0)
    assert mf["skew_mean"] == pytest.approx(skews.mean())
    assert mf["skew_max"] == pytest.approx(skews.max())
    assert mf["kurt_min"] == pytest.approx(scipy.stats.kurtosis(X.to_numpy(), axis=0).min())
    corr = np.abs(np.corrcoef(X.to_numpy(), rowvar=False)[np.triu_indices(4, 1)])
    assert mf["corr_abs_mean"] == pytest.approx(corr.mean())
    assert mf["corr_abs_max"] == pytest.approx(corr.max())
    eig = np.linalg.eigvalsh(np.corrcoef(X.to_numpy(), rowvar=False))[::-1]
    assert mf["pca_first_ratio"] == pytest.approx(eig[0] / eig.sum())
    assert mf["n_classes"] == 3


def test_regression_variant(extractor):
    rng = np.random.default_rng(2)
    X = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400)})
    y = 3.0 * X["a"] + rng.exponential(size=400)
    mf = extractor.extract(X, y)  # float target with many values: inferred regression
    assert list(mf.index) == extractor.feature_names("regression")
    assert "class_entropy" not in mf.index and "target_entropy" in mf.index
    assert mf["target_skew"] == pytest.approx(scipy.stats.skew(y))
    assert mf["target_kurt"] == pytest.approx(scipy.stats.kurtosis(y))
    assert mf["target_corr_abs_max"] == pytest.approx(abs(np.corrcoef(X["a"], y)[0, 1]))
    assert mf["target_spearman_abs_max"] == pytest.approx(
        abs(scipy.stats.spearmanr(X["a"], y)[0]))
    assert mf["lm_linear_r2"] > 0.8
    assert mf["lm_linear_r2"] > mf["lm_stump_r2"]
    assert 0 < mf["lm_linear_rae"] < 0.5
    assert mf["target_entropy"] == pytest.approx(math.log2(7), rel=0.01)  # 7 bins of 400
    assert not extractor.last_nan_reasons_


def test_task_can_be_forced(extractor):
    X, _ = separable()
    mf = extractor.extract(X, np.arange(12) % 3, task="regression")
    assert "target_skew" in mf.index
    assert extractor.extract(X, np.arange(12.0) % 3)["n_classes"] == 3  # inferred classes


# --- robustness ---------------------------------------------------------------------


def test_categoricals_missing_constant_and_all_nan_columns(extractor):
    X, y = mixed()
    mf = extractor.extract(X, y)
    assert (mf["n_numeric"], mf["n_categorical"]) == (5, 2)  # bool is numeric, object not
    assert mf["n_constant"] == 2  # "const" and the all-NaN column
    assert mf["missing_cell_ratio"] == pytest.approx(X.isna().to_numpy().mean())
    assert mf["cols_with_missing_ratio"] == pytest.approx(3 / 7)
    assert mf["cat_card_total"] == 5
    assert mf.notna().mean() > 0.95
    assert set(extractor.last_nan_reasons_) == set(mf.index[mf.isna()])


def test_tiny_data_with_a_singleton_class(extractor):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=20), "b": rng.normal(size=20),
                      "c": pd.Categorical(rng.choice(["p", "q"], 20))})
    y = np.array(["u"] * 10 + ["v"] * 9 + ["w"])
    mf = extractor.extract(X, y)
    assert mf["n_classes"] == 3
    assert mf["minority_class_size"] == 1
    assert 0 <= mf["lm_one_nn_acc"] <= 1 and 0 <= mf["lm_lda_bacc"] <= 1
    assert mf.isna().sum() == 0, extractor.last_nan_reasons_


def test_wide_data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 2000)))
    mf = MetaFeatureExtractor().extract(X, rng.integers(0, 2, 60))
    assert mf["n_features"] == 2000
    assert mf["dimensionality"] == pytest.approx(2000 / 60)
    assert mf.notna().all()


def test_large_data_is_subsampled_but_counted_in_full():
    rng = np.random.default_rng(0)
    n = 30_000
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = np.where(np.arange(n) < 30, 1, 0)  # 30 rows of the rare class
    extractor = MetaFeatureExtractor(max_rows=1000)
    mf = extractor.extract(X, y)
    assert mf["n_instances"] == n
    assert mf["minority_class_size"] == 30
    assert mf["class_prob_min"] == pytest.approx(30 / n)
    assert mf["tree_leaves_per_instance"] <= 1.0


def test_numpy_input_and_nonfinite_values(extractor):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50, 3))
    X[0, 0] = np.inf
    mf = extractor.extract(X, rng.integers(0, 2, 50))
    assert mf["n_features"] == 3
    assert mf["missing_cell_ratio"] == pytest.approx(1 / 150)  # inf counts as missing


def test_extract_does_not_modify_input(extractor):
    X, y = mixed()
    before = X.copy()
    extractor.extract(X, y)
    pd.testing.assert_frame_equal(X, before)


def test_deterministic_for_a_seed():
    X, y = mixed(3000)
    first = MetaFeatureExtractor(max_rows=1000, random_state=3).extract(X, y)
    again = MetaFeatureExtractor(max_rows=1000, random_state=3).extract(X, y)
    pd.testing.assert_series_equal(first, again)
    other = MetaFeatureExtractor(max_rows=1000, random_state=4).extract(X, y)
    assert not first.equals(other)  # the subsample differs


def test_no_warnings_escape(extractor, recwarn):
    X, y = mixed()
    extractor.extract(X.assign(x2=0.0), y)
    assert len(recwarn) == 0


# --- NaN reasons --------------------------------------------------------------------


def test_nan_reasons_for_undefined_features(extractor):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({c: pd.Categorical(rng.choice(["a", "b"], 40)) for c in "pqr"})
    mf = extractor.extract(X, rng.integers(0, 2, 40))
    assert np.isnan(mf["skew_mean"])
    assert "numeric" in extractor.last_nan_reasons_["skew_mean"]
    assert set(extractor.last_nan_reasons_) == set(mf.index[mf.isna()])
    assert mf["cat_card_mean"] == 2 and not np.isnan(mf["lm_one_nn_acc"])


def test_time_budget_marks_skipped_groups():
    X, y = mixed()
    extractor = MetaFeatureExtractor(time_budget={"landmarking": 0.0})
    mf = extractor.extract(X, y)
    landmarks = [n for n in mf.index if n.startswith("lm_")]
    assert mf[landmarks].isna().all()
    assert "time budget" in extractor.last_nan_reasons_["lm_one_nn_acc"]
    assert mf.drop(landmarks).notna().mean() > 0.95
    assert set(extractor.last_timings_) == {"prepare", *GROUPS}


def test_a_failing_step_gives_nan_not_an_exception(extractor, monkeypatch):
    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(_landmarking, "one_nn", broken)
    mf = extractor.extract(*separable())
    assert np.isnan(mf["lm_one_nn_acc"])
    assert "RuntimeError: boom" in extractor.last_nan_reasons_["lm_one_nn_acc"]
    assert mf["lm_stump_acc"] == 1.0


# --- input validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("X", "y", "message"),
    [
        (pd.DataFrame(), [], "no rows"),
        (pd.DataFrame(index=range(3)), [0, 1, 0], "no feature columns"),
        (pd.DataFrame({"a": [1.0, 2.0, 3.0]}), [0, 1], "3 rows but y has 2"),
        (np.arange(5.0), np.arange(5), "2-dimensional"),
        (5, [0], "cannot be converted to a DataFrame"),
        (pd.DataFrame({"a": [1.0, 2.0]}), [0, None], "missing values"),
        (pd.DataFrame({"a": [1.0, 2.0]}), np.zeros((2, 2)), "one-dimensional"),
    ],
)
def test_invalid_input_raises_value_error(extractor, X, y, message):
    with pytest.raises(ValueError, match=message):
        extractor.extract(X, y)


def test_invalid_task_and_parameters(extractor):
    X, y = separable()
    with pytest.raises(DataValidationError, match="task must be one of"):
        extractor.extract(X, y, task="ranking")
    with pytest.raises(ValueError, match="groups"):
        MetaFeatureExtractor(groups=("general", "magic"))
    with pytest.raises(ValueError, match="time_budget"):
        MetaFeatureExtractor(time_budget=-1)


# --- normalizer ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw_table(extractor) -> pd.DataFrame:
    rows = []
    for seed in range(4):
        X, y = mixed(200 + 100 * seed, seed)
        rows.append(extractor.extract(X, y))
    rows.append(extractor.extract(*separable()))
    X = pd.DataFrame({c: pd.Categorical(np.resize(["a", "b", "c"], 60)) for c in "pq"})
    rows.append(extractor.extract(X, np.arange(60) % 2))  # NaN numeric statistics
    return pd.DataFrame(rows)


def test_normalizer_output_is_finite_bounded_float32(raw_table):
    norm = MetaFeatureNormalizer().fit(raw_table)
    out = norm.transform(raw_table)
    n_nan_columns = int(raw_table.isna().any().sum())
    assert n_nan_columns > 0
    assert out.dtype == np.float32
    assert out.shape == (len(raw_table), raw_table.shape[1] + n_nan_columns)
    assert np.isfinite(out).all() and np.abs(out).max() <= 5.0
    indicators = out[:, raw_table.shape[1]:]
    np.testing.assert_array_equal(indicators, raw_table.loc[:, raw_table.isna().any()].isna())
    assert norm.output_names_[raw_table.shape[1]].endswith("__nan")


def test_normalizer_scales_robustly_with_signed_log(raw_table):
    norm = MetaFeatureNormalizer(clip=100.0).fit(raw_table)
    column = list(raw_table.columns).index("n_instances")
    logged = np.log1p(raw_table["n_instances"].to_numpy())
    q25, q50, q75 = np.quantile(logged, [0.25, 0.5, 0.75])
    expected = (logged - q50) / (q75 - q25)
    np.testing.assert_allclose(norm.transform(raw_table)[:, column], expected, rtol=1e-5)
    column = list(raw_table.columns).index("missing_cell_ratio")  # linear scale
    values = raw_table["missing_cell_ratio"].to_numpy()
    q25, q50, q75 = np.quantile(values, [0.25, 0.5, 0.75])
    np.testing.assert_allclose(norm.transform(raw_table)[:, column],
                               (values - q50) / (q75 - q25), rtol=1e-5, atol=1e-6)


def test_normalizer_round_trips_through_json(raw_table):
    norm = MetaFeatureNormalizer().fit(raw_table)
    state = json.loads(json.dumps(norm.to_dict()))
    restored = MetaFeatureNormalizer.from_dict(state)
    np.testing.assert_array_equal(restored.transform(raw_table), norm.transform(raw_table))
    assert restored.output_names_ == norm.output_names_
    single = restored.transform(raw_table.iloc[0])
    assert single.shape == (len(norm.output_names_),)
    np.testing.assert_array_equal(single, norm.transform(raw_table)[0])


def test_normalizer_handles_missing_features_and_bad_state(raw_table):
    norm = MetaFeatureNormalizer().fit(raw_table)
    out = norm.transform(raw_table.drop(columns=["n_instances"]).iloc[:1])
    assert np.isfinite(out).all()
    assert out[0, list(raw_table.columns).index("n_instances")] == 0.0
    with pytest.raises(ValueError, match="not a"):
        MetaFeatureNormalizer.from_dict({"format": "something else"})
    with pytest.raises(RuntimeError, match="not fitted"):
        MetaFeatureNormalizer().transform(raw_table)
