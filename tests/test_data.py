"""Loading datasets from files, DataFrames, OpenML and manifests; checks and typing."""

from __future__ import annotations

import datetime
import decimal
import gzip
from pathlib import Path

import numpy as np
import openml
import pandas as pd
import pytest
from conftest import DATASETS, requires_datasets

from automl_meta.data import (
    MAX_CLASSES_FOR_INFERENCE,
    Dataset,
    dataset_groups,
    infer_task,
    load_dataset,
    load_manifest_entry,
    make_dataset,
    name_stem,
    prepare_X,
    read_manifest,
    target_fingerprint,
    text_categories,
)
from automl_meta.exceptions import AutoMetaError, DataSourceError, DataValidationError

N = 30


def _table() -> pd.DataFrame:
    """30 rows: a float, an integer, a string column and a 3-class string target."""
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "width": np.round(rng.normal(size=N), 4),
        "count": np.arange(N) % 7,
        "colour": np.array(["red", "green", "blue"])[np.arange(N) % 3],
        "target": np.array(["a", "b", "c"])[(np.arange(N) // 2) % 3],
    })


def _check_table(ds: Dataset, name: str) -> None:
    expected = _table()
    assert isinstance(ds, Dataset)
    assert ds.name == name
    assert ds.task == "classification"
    assert (ds.n_rows, ds.n_features, ds.n_classes) == (N, 3, 3)
    assert list(ds.X.columns) == ["width", "count", "colour"]
    assert ds.X["width"].dtype == np.float64
    assert ds.X["count"].dtype == np.float64
    assert isinstance(ds.X["colour"].dtype, pd.CategoricalDtype)
    assert sorted(ds.X["colour"].cat.categories) == ["blue", "green", "red"]
    np.testing.assert_allclose(ds.X["width"].to_numpy(), expected["width"].to_numpy())
    assert ds.X["count"].tolist() == expected["count"].astype(float).tolist()
    assert ds.X["colour"].astype(str).tolist() == expected["colour"].tolist()
    assert ds.y.tolist() == expected["target"].tolist()
    assert ds.y.name == "target"
    assert ds.schema.numeric == ("width", "count")
    assert ds.schema.categorical == {"colour": 3}


@pytest.mark.parametrize(
    ("filename", "sep", "compression"),
    [("t.csv", ",", None), ("t.tsv", "\t", None), ("t.csv.gz", ",", "gzip"),
     ("t.tsv.gz", "\t", "gzip"), ("t.txt", ",", None), ("T.CSV", ",", None)],
)
def test_load_delimited(tmp_path, filename, sep, compression):
    path = tmp_path / filename
    _table().to_csv(path, sep=sep, index=False, compression=compression)
    ds = load_dataset(path)
    _check_table(ds, filename.split(".")[0])
    assert ds.source == str(path)
    assert ds.openml_id is None


def test_load_parquet(tmp_path):
    path = tmp_path / "table.parquet"
    frame = _table()
    frame["colour"] = frame["colour"].astype("category")
    frame.to_parquet(path)
    _check_table(load_dataset(str(path)), "table")


def test_load_dataframe_and_name():
    ds = load_dataset(_table(), name="mine")
    _check_table(ds, "mine")
    assert ds.source == "dataframe"
    assert load_dataset(_table()).name == "dataframe"


def test_csv_question_mark_is_missing(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("a,b,class\n1.5,x,yes\n?,y,no\n2.5,?,yes\n3.5,x,no\n")
    ds = load_dataset(path)
    assert ds.X["a"].dtype == np.float64
    assert ds.X["a"].isna().tolist() == [False, True, False, False]
    assert ds.X["b"].isna().tolist() == [False, False, True, False]
    assert list(ds.X["b"].cat.categories) == ["x", "y"]
    assert ds.y.tolist() == ["yes", "no", "yes", "no"]


ARFF = """% a comment
@RELATION weather
@ATTRIBUTE outlook {sunny, overcast, rainy}
@ATTRIBUTE temperature NUMERIC
@ATTRIBUTE humidity REAL
@ATTRIBUTE windy {TRUE, FALSE}
@ATTRIBUTE play {yes, no}
@DATA
sunny,85,85,FALSE,no
sunny,80,?,TRUE,no
overcast,83,86,FALSE,yes
rainy,70,96,?,yes
rainy,68,80,FALSE,yes
?,65,70,TRUE,no
overcast,64,65,TRUE,yes
sunny,72,95,FALSE,no
"""


@pytest.mark.parametrize("gz", [False, True])
def test_load_arff_nominal_missing_and_last_attribute_target(tmp_path, gz):
    if gz:
        path = tmp_path / "weather.arff.gz"
        with gzip.open(path, "wt") as fh:
            fh.write(ARFF)
    else:
        path = tmp_path / "weather.arff"
        path.write_text(ARFF)
    ds = load_dataset(path)
    assert ds.name == "weather"
    assert ds.task == "classification"
    assert list(ds.X.columns) == ["outlook", "temperature", "humidity", "windy"]
    assert ds.y.tolist() == ["no", "no", "yes", "yes", "yes", "no", "yes", "no"]
    assert isinstance(ds.X["outlook"].dtype, pd.CategoricalDtype)
    assert list(ds.X["outlook"].cat.categories) == ["sunny", "overcast", "rainy"]
    assert list(ds.X["windy"].cat.categories) == ["TRUE", "FALSE"]
    assert ds.X["temperature"].dtype == np.float64
    assert ds.X["humidity"].dtype == np.float64
    assert ds.X.isna().sum().to_dict() == {
        "outlook": 1, "temperature": 0, "humidity": 1, "windy": 1}
    assert ds.X["temperature"].tolist()[:3] == [85.0, 80.0, 83.0]


def test_arff_explicit_target(tmp_path):
    path = tmp_path / "weather.arff"
    path.write_text(ARFF)
    ds = load_dataset(path, target="temperature")
    assert list(ds.X.columns) == ["outlook", "humidity", "windy", "play"]
    # Eight distinct integer values: classes unless told otherwise.
    assert ds.task == "classification"
    ds = load_dataset(path, target="temperature", task="regression")
    assert ds.task == "regression"
    assert ds.y.tolist() == [85.0, 80.0, 83.0, 70.0, 68.0, 65.0, 64.0, 72.0]
    with pytest.raises(DataValidationError, match=r"target has 1 missing values"):
        load_dataset(path, target="windy")


def test_arff_target_with_missing_value_is_refused(tmp_path):
    path = tmp_path / "weather.arff"
    path.write_text(ARFF.replace("rainy,68,80,FALSE,yes", "rainy,68,80,FALSE,?"))
    with pytest.raises(DataValidationError, match=r"target has 1 missing values"):
        load_dataset(path)


def test_invalid_arff(tmp_path):
    path = tmp_path / "bad.arff"
    path.write_text("@RELATION x\n@ATTRIBUTE a NUMERIC\n@DATA\nfoo,bar,baz\n")
    with pytest.raises(DataValidationError, match=r"invalid ARFF"):
        load_dataset(path)


# ---------------------------------------------------------------------------------------
# Targets and tasks


def test_infer_task():
    assert infer_task(pd.Series(np.linspace(0, 1, 50))) == "regression"
    assert infer_task(pd.Series([0.0, 1.0, 0.0, 1.0])) == "classification"
    assert infer_task(pd.Series([1, 2, 3, 1])) == "classification"
    assert infer_task(pd.Series(["x", "y"])) == "classification"
    assert infer_task(pd.Series([True, False])) == "classification"
    assert infer_task(pd.Series(pd.Categorical(["1.5", "2.5"]))) == "classification"
    assert infer_task(pd.Series([0.5, 1.0, 0.5])) == "regression"
    many = MAX_CLASSES_FOR_INFERENCE
    assert infer_task(pd.Series(np.arange(many))) == "classification"
    assert infer_task(pd.Series(np.arange(many + 1))) == "regression"


def test_task_inferred_from_target_values():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=40)})
    reg = make_dataset(X, rng.normal(size=40))
    assert reg.task == "regression"
    assert reg.y.dtype == np.float64
    assert reg.n_classes is None
    cls = make_dataset(X, np.arange(40) % 4)
    assert cls.task == "classification"
    assert cls.n_classes == 4


def test_task_can_be_overridden():
    X = pd.DataFrame({"a": np.arange(12.0)})
    y = np.arange(12) % 3
    ds = make_dataset(X, y, task="regression")
    assert ds.task == "regression"
    assert ds.y.dtype == np.float64
    frame = pd.DataFrame({"a": np.arange(12.0), "target": np.arange(12) * 0.5})
    assert load_dataset(frame).task == "regression"
    assert load_dataset(frame, task="classification").task == "classification"


def test_regression_target_must_be_numeric():
    with pytest.raises(DataValidationError, match=r"a regression target must be numeric"):
        make_dataset(pd.DataFrame({"a": [1.0, 2.0]}), ["x", "y"], task="regression")


def test_unknown_task():
    with pytest.raises(DataValidationError, match=r"task must be one of .* got 'ranking'"):
        make_dataset(pd.DataFrame({"a": [1.0, 2.0]}), [0, 1], task="ranking")


@pytest.mark.parametrize("name", ["target", "class", "Class", "y", "label"])
def test_default_target_names(name):
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], name: [0, 1, 0, 1]})
    ds = load_dataset(frame)
    assert list(ds.X.columns) == ["a"]
    assert ds.y.tolist() == [0, 1, 0, 1]


def test_default_target_prefers_target_over_class():
    frame = pd.DataFrame({"class": [0, 1, 0, 1], "a": [1.0, 2, 3, 4], "target": [1, 1, 0, 0]})
    ds = load_dataset(frame)
    assert list(ds.X.columns) == ["class", "a"]
    assert ds.y.tolist() == [1, 1, 0, 0]


def test_explicit_target():
    frame = pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [5.0, 6, 7, 8], "z": [0, 1, 0, 1]})
    ds = load_dataset(frame, target="z")
    assert list(ds.X.columns) == ["a", "b"]
    assert ds.y.tolist() == [0, 1, 0, 1]


# ---------------------------------------------------------------------------------------
# Bad inputs


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(DataValidationError, match=r"empty\.csv: the file is empty"):
        load_dataset(path)


def test_blank_file(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("\n")
    with pytest.raises(DataValidationError, match=r"the file is empty"):
        load_dataset(path)


def test_header_only_file(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("a,b,target\n")
    with pytest.raises(DataValidationError, match=r"header\.csv: the table has no rows"):
        load_dataset(path)


def test_ragged_csv(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,target\n1,2,3\n1,2,3,4,5\n")
    with pytest.raises(DataSourceError, match=r"ragged\.csv: cannot be parsed"):
        load_dataset(path)


def test_missing_target_column(tmp_path):
    path = tmp_path / "t.csv"
    _table().to_csv(path, index=False)
    with pytest.raises(DataValidationError,
                       match=r"target column 'label' not found; columns are \['width'"):
        load_dataset(path, target="label")


def test_no_default_target():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [0, 1]})
    with pytest.raises(DataValidationError, match=r"no target column given .* pass target="):
        load_dataset(frame)


def test_single_class_target():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "target": ["x", "x", "x"]})
    with pytest.raises(DataValidationError, match=r"single class \('x'\)"):
        load_dataset(frame)


def test_constant_regression_target():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "target": [1.5, 1.5, 1.5]})
    with pytest.raises(DataValidationError, match=r"regression target is constant"):
        load_dataset(frame)


def test_all_missing_columns_are_named(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,empty,text,target\n1,,,0\n2,?,,1\n3,,,0\n")
    with pytest.raises(DataValidationError, match=r"2 columns of X are entirely missing: "
                                                  r"'empty', 'text'; drop them"):
        load_dataset(path)
    with pytest.raises(DataValidationError, match=r"column 'text' of X is entirely missing"):
        make_dataset(pd.DataFrame({"a": [1.0, 2.0, 3.0], "text": None}), [0, 1, 0])
    # The wide path too: 10,000 columns, the last one empty.
    frame = pd.DataFrame(np.ones((3, 10_000))).add_prefix("c")
    frame = frame.assign(c9999=np.nan, target=[0, 1, 0])
    with pytest.raises(DataValidationError, match=r"column 'c9999' of X is entirely missing"):
        load_dataset(frame)
    with pytest.raises(DataValidationError, match=r"X has no column with any value"):
        load_dataset(pd.DataFrame({"empty": [np.nan] * 3, "target": [0, 1, 0]}))


def test_text_categories_are_the_text_of_each_value():
    # What mapping str over every value gave, from the distinct values only: the same
    # texts, missing values, categories and their (sorted) order.
    def one_by_one(col):
        return col.astype(object).map(lambda v: None if pd.isna(v) else str(v)).astype(
            "category")

    columns = [
        pd.Series(["b", "a", None, "c", "a"], dtype=object),
        pd.Series(["b", "a", "c"]).astype("str"),
        pd.Series([10, 9, 100, 9]),
        pd.Series([1.0, np.nan, 2.5, 10.0]),
        pd.Series([True, False, None], dtype=object),
        pd.Series([1, "1", "a", None], dtype=object),  # two values of one text
        pd.Series(pd.Categorical(["x", None, "x"], categories=["z", "y", "x"])),
        pd.Series(pd.array([1, None, 10], dtype="Int64")),
        pd.Series([pd.NA, "a", np.nan], dtype=object),
    ]
    for col in columns:
        got, expected = text_categories(col), one_by_one(col)
        assert list(got.cat.categories) == list(expected.cat.categories)
        assert got.astype(object).where(got.notna(), None).tolist() == \
            expected.astype(object).where(expected.notna(), None).tolist()


def test_dates_durations_and_decimals_are_numeric():
    dates = pd.Series(pd.date_range("2024-01-01", periods=3, freq="D"))
    frame = pd.DataFrame({
        "date": dates.where(dates.index != 1),  # NaT
        "utc_plus_1": dates.dt.tz_localize("Europe/Paris"),
        "duration": pd.to_timedelta([1.5, None, 3.0], unit="h"),
        "price": [decimal.Decimal("1.25"), None, decimal.Decimal("3")],
        "day": [datetime.date(2024, 1, 1), None, datetime.date(2024, 1, 3)],  # from SQL
        "iso": ["2024-01-01", None, "2024-01-03T01:00:00+01:00"],  # from a CSV file
        "code": ["2024-01-01", "x", "2024-01-03"],  # not all dates: categories
    })
    X = prepare_X(frame)
    assert list(X.dtypes[:6]) == ["float64"] * 6 and X["code"].dtype == "category"
    start = pd.Timestamp("2024-01-01").timestamp()  # seconds since 1970
    np.testing.assert_array_equal(X["date"], [start, np.nan, start + 2 * 86400])
    np.testing.assert_array_equal(X["utc_plus_1"], [start - 3600, start + 86400 - 3600,
                                                    start + 2 * 86400 - 3600])
    np.testing.assert_array_equal(X["duration"], [5400.0, np.nan, 10800.0])
    np.testing.assert_array_equal(X["price"], [1.25, np.nan, 3.0])
    np.testing.assert_array_equal(X["day"], X["date"])
    np.testing.assert_array_equal(X["iso"], X["date"])


def test_a_column_of_lists_is_named():
    with pytest.raises(DataValidationError, match=r"column 'tags' holds list values; a cell "
                                                  r"must hold one number or one category"):
        prepare_X(pd.DataFrame({"tags": [[1, 2], [3]], "a": [1.0, 2.0]}))


def test_inf_in_features(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,target\n1,2,0\ninf,3,1\n3,4,0\n")
    with pytest.raises(DataValidationError, match=r"column 'a' of X contains infinite values"):
        load_dataset(path)
    with pytest.raises(DataValidationError, match=r"column 'b' of X contains infinite values"):
        make_dataset(pd.DataFrame({"b": [1.0, -np.inf]}), [0, 1])


@pytest.mark.parametrize("task", [None, "regression", "classification"])
def test_inf_in_target(task):
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "target": [0.5, 1.5, np.inf, 2.5]})
    with pytest.raises(DataValidationError, match=r"the target contains infinite values"):
        load_dataset(frame, task=task)


def test_nan_in_target():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "target": [0, 1, np.nan, np.nan]})
    with pytest.raises(DataValidationError, match=r"the target has 2 missing values"):
        load_dataset(frame)


def test_mixed_type_column():
    frame = pd.DataFrame({"a": pd.Series([1, "x", 2, 3], dtype=object),
                          "target": [0, 1, 0, 1]})
    with pytest.raises(DataValidationError,
                       match=r"column 'a' mixes value types \(int, str\)"):
        load_dataset(frame)


def test_numeric_strings_become_numeric_and_text_categorical():
    X = pd.DataFrame({"n": pd.Series(["1", "2.5", None], dtype=object),
                      "c": pd.Series(["x", "1", "2"], dtype=object),
                      "b": [True, False, True]})
    ds = make_dataset(X, [0, 1, 0])
    assert ds.X["n"].dtype == np.float64
    assert ds.X["n"].isna().tolist() == [False, False, True]
    assert list(ds.X["c"].cat.categories) == ["1", "2", "x"]
    assert ds.X["b"].tolist() == [1.0, 0.0, 1.0]


@pytest.mark.parametrize("columns", [["a", "a", "target"], [1, "1", "target"]])
def test_duplicate_column_names(columns):
    frame = pd.DataFrame([[1, 2, 0], [3, 4, 1]], columns=columns)
    with pytest.raises(DataValidationError, match=r"duplicate column names: \['(a|1)'\]"):
        load_dataset(frame)


def test_length_mismatch():
    with pytest.raises(DataValidationError, match=r"X has 4 rows but y has 3 values"):
        make_dataset(np.zeros((4, 2)), [0, 1, 0])


def test_make_dataset_from_array_names_columns():
    ds = make_dataset(np.arange(8.0).reshape(4, 2), [0, 1, 0, 1])
    assert list(ds.X.columns) == ["x0", "x1"]
    assert ds.X["x1"].tolist() == [1.0, 3.0, 5.0, 7.0]
    with pytest.raises(DataValidationError, match=r"X must be 2-dimensional, got shape \(4,\)"):
        make_dataset(np.zeros(4), [0, 1, 0, 1])
    with pytest.raises(DataValidationError, match=r"X has no rows"):
        make_dataset(np.zeros((0, 2)), [])
    with pytest.raises(DataValidationError, match=r"X has no feature columns"):
        make_dataset(np.zeros((3, 0)), [0, 1, 0])
    with pytest.raises(DataValidationError, match=r"y must be one column, got 2 columns"):
        make_dataset(np.zeros((2, 1)), pd.DataFrame({"a": [0, 1], "b": [1, 0]}))


def test_unknown_format(tmp_path):
    path = tmp_path / "data.xlsx"
    path.write_text("whatever")
    with pytest.raises(DataSourceError, match=r"data\.xlsx: unknown format '\.xlsx'"):
        load_dataset(path)


def test_missing_file(tmp_path):
    path = tmp_path / "absent.csv"
    with pytest.raises(DataSourceError, match=r"no such file: .*absent\.csv"):
        load_dataset(path)


def test_bad_source_type():
    with pytest.raises(DataSourceError, match=r"got int"):
        load_dataset(42)


def test_malformed_openml_source():
    with pytest.raises(DataSourceError, match=r"'openml:abc': an OpenML source is"):
        load_dataset("openml:abc")


def test_errors_are_library_errors():
    # Scripts can catch the library's own errors, and input errors are ValueErrors.
    assert issubclass(DataValidationError, ValueError)
    assert issubclass(DataValidationError, AutoMetaError)
    assert issubclass(DataSourceError, OSError)
    assert issubclass(DataSourceError, AutoMetaError)


def test_frame_with_non_default_index_keeps_its_values():
    X = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "c": ["x", "y", "x", "y"]},
                     index=[10, 11, 12, 13])
    ds = make_dataset(X, pd.Series([0, 1, 0, 1], index=X.index))
    assert ds.X["a"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert ds.X["c"].tolist() == ["x", "y", "x", "y"]


def test_pd_na_in_string_column_is_missing_not_a_category():
    X = pd.DataFrame({"s": pd.array(["u", None, "v", "u"], dtype="string")})
    ds = make_dataset(X, [0, 1, 0, 1])
    assert list(ds.X["s"].cat.categories) == ["u", "v"]
    assert ds.X["s"].isna().tolist() == [False, True, False, False]


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "bad.parquet"
    path.write_text("not a parquet file")
    with pytest.raises(DataSourceError, match=r"bad\.parquet"):
        load_dataset(path)


# ---------------------------------------------------------------------------------------
# OpenML through its cache, without a network

OPENML_ID = 987123

DESCRIPTION = """<oml:data_set_description xmlns:oml="http://openml.org/openml">
  <oml:id>{id}</oml:id>
  <oml:name>tiny-weather</oml:name>
  <oml:version>1</oml:version>
  <oml:description>A test fixture.</oml:description>
  <oml:format>ARFF</oml:format>
  <oml:upload_date>2024-01-01T00:00:00</oml:upload_date>
  <oml:licence>Public</oml:licence>
  <oml:url>http://127.0.0.1:9/data/v1/download/1/tiny-weather.arff</oml:url>
  <oml:file_id>1</oml:file_id>
  <oml:default_target_attribute>play</oml:default_target_attribute>
  <oml:visibility>public</oml:visibility>
  <oml:status>active</oml:status>
</oml:data_set_description>
"""


@pytest.fixture
def openml_config(tmp_path):
    """A private, empty OpenML cache; no retries; everything restored afterwards."""
    config = openml.config
    saved = {name: getattr(config, name) for name in ("server", "connection_n_retries")
             if hasattr(config, name)}
    saved_root = config._root_cache_directory
    config.set_root_cache_directory(tmp_path / "openml")
    if hasattr(config, "connection_n_retries"):
        config.connection_n_retries = 1
    yield config
    config.set_root_cache_directory(saved_root)
    for name, value in saved.items():
        setattr(config, name, value)


def test_openml_id_absent_from_empty_cache(openml_config):
    openml_config.server = "http://127.0.0.1:9/api/v1/xml"
    with pytest.raises(DataSourceError,
                       match=rf"OpenML dataset {OPENML_ID} could not be loaded"):
        load_dataset(f"openml:{OPENML_ID}")


def test_openml_from_local_cache(openml_config, tmp_path):
    # openml-python 0.15 reads <root>/org/openml/www/datasets/<id>/{description.xml,
    # dataset.arff} for the default server; no parquet URL and no md5: no download.
    folder = tmp_path / "openml" / "org" / "openml" / "www" / "datasets" / str(OPENML_ID)
    folder.mkdir(parents=True)
    (folder / "description.xml").write_text(DESCRIPTION.format(id=OPENML_ID))
    (folder / "dataset.arff").write_text(ARFF)
    assert Path(openml_config.get_cache_directory()) == tmp_path / "openml" / "org" / \
        "openml" / "www"
    ds = load_dataset(f"openml:{OPENML_ID}")
    assert ds.openml_id == OPENML_ID
    assert ds.name == "tiny-weather"
    assert ds.source == f"openml:{OPENML_ID}"
    assert ds.task == "classification"
    assert list(ds.X.columns) == ["outlook", "temperature", "humidity", "windy"]
    assert ds.y.astype(str).tolist() == ["no", "no", "yes", "yes", "yes", "no", "yes", "no"]
    assert isinstance(ds.X["outlook"].dtype, pd.CategoricalDtype)
    assert ds.X["temperature"].dtype == np.float64
    assert int(ds.X.isna().sum().sum()) == 3
    # Another target than the default one.
    other = load_dataset(f"openml:{OPENML_ID}", target="temperature", task="regression")
    assert other.task == "regression"
    assert "play" in other.X.columns and "temperature" not in other.X.columns
    assert other.y.tolist()[:3] == [85.0, 80.0, 83.0]


# ---------------------------------------------------------------------------------------
# Manifests and the corpus


def test_read_manifest_resolves_paths(tmp_path):
    sub = tmp_path / "corpus"
    (sub / "files").mkdir(parents=True)
    _table().to_csv(sub / "files" / "t.csv", index=False)
    manifest = sub / "manifest.csv"
    pd.DataFrame({"name": ["t"], "path": ["files/t.csv"], "target": ["target"],
                  "task": ["classification"]}).to_csv(manifest, index=False)
    frame = read_manifest(manifest)
    assert frame["abspath"].tolist() == [str((sub / "files" / "t.csv").resolve())]
    assert frame["openml_id"].isna().all()
    ds = load_manifest_entry(frame.iloc[0])
    _check_table(ds, "t")
    assert ds.openml_id is None


def test_manifest_entry_drops_empty_columns_and_missing_targets(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,empty,y\n1,,0\n2,,1\n3,,\n4,,0\n5,,1\n")
    ds = load_manifest_entry({"name": "d", "abspath": str(path), "target": "y",
                              "task": "classification", "openml_id": 31})
    assert list(ds.X.columns) == ["a"]
    assert ds.X["a"].tolist() == [1.0, 2.0, 4.0, 5.0]
    assert ds.y.tolist() == [0, 1, 0, 1]
    assert (ds.name, ds.openml_id) == ("d", 31)


def test_manifest_entry_missing_file(tmp_path):
    with pytest.raises(DataSourceError, match=r"manifest entry 'gone': no such file"):
        load_manifest_entry({"name": "gone", "abspath": str(tmp_path / "gone.csv"),
                             "target": "y", "task": "classification"})


def test_read_manifest_errors(tmp_path):
    with pytest.raises(DataSourceError, match=r"no such manifest"):
        read_manifest(tmp_path / "nothing.csv")
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"name": ["a"], "path": ["a.csv"]}).to_csv(bad, index=False)
    with pytest.raises(DataValidationError, match=r"manifest lacks columns \['target', 'task'\]"):
        read_manifest(bad)
    dup = tmp_path / "dup.csv"
    pd.DataFrame({"name": ["a", "a"], "path": ["a.csv", "b.csv"], "target": ["y", "y"],
                  "task": ["regression"] * 2}).to_csv(dup, index=False)
    with pytest.raises(DataValidationError, match=r"duplicate dataset names \['a'\]"):
        read_manifest(dup)


@requires_datasets
def test_corpus_raw_colic_entry():
    manifest = read_manifest(DATASETS / "manifest.csv")
    assert Path(manifest["abspath"].iloc[0]).is_absolute()
    entry = manifest.set_index("name").loc["raw_colic"].copy()
    entry["name"] = "raw_colic"
    assert entry["abspath"] == str((DATASETS / "raw" / "colic.arff").resolve())
    ds = load_manifest_entry(entry)
    assert ds.name == "raw_colic"
    assert ds.task == "classification"
    assert ds.n_classes == 2
    assert ds.n_rows == 368
    assert ds.n_features == 22
    categorical = ds.schema.categorical
    assert len(categorical) >= 10
    assert all(isinstance(ds.X[c].dtype, pd.CategoricalDtype) for c in categorical)
    assert all(ds.X[c].dtype == np.float64 for c in ds.schema.numeric)
    assert ds.X.isna().any(axis=None)
    assert int(ds.X.isna().sum().sum()) > 1000


@requires_datasets
def test_corpus_copies_share_fingerprint_and_group():
    manifest = read_manifest(DATASETS / "manifest.csv").set_index("name", drop=False)
    raw = load_manifest_entry(manifest.loc["raw_credit.g"])
    encoded = load_manifest_entry(manifest.loc["credit_g"])
    assert raw.n_rows == encoded.n_rows == 1000
    assert target_fingerprint(raw.y, raw.task) == target_fingerprint(encoded.y, encoded.task)
    assert target_fingerprint(raw.y, raw.task) == "c:700,300"


def test_target_fingerprint_ignores_encoding():
    y = pd.Series(["good", "bad", "good", "good", "ugly"])
    recoded = y.map({"good": 2, "bad": 0, "ugly": 1})
    assert target_fingerprint(y, "classification") == "c:3,1,1"
    assert target_fingerprint(recoded, "classification") == "c:3,1,1"
    values = pd.Series([0.1, 2.5, -3.0, 7.25])
    shuffled = values.iloc[[2, 0, 3, 1]].reset_index(drop=True)
    assert target_fingerprint(values, "regression") == target_fingerprint(shuffled,
                                                                          "regression")
    assert target_fingerprint(values, "regression").startswith("r:4:")
    assert target_fingerprint(values + 1, "regression") != target_fingerprint(values,
                                                                              "regression")


def test_name_stems():
    assert name_stem("raw_credit.g") == "credit"
    assert name_stem("credit_g") == "credit"
    assert name_stem("raw_colic.orig") == "colic"
    assert name_stem("heart_c") == name_stem("heart_h") == "heart"
    assert name_stem("iris") == "iris"


def test_dataset_groups():
    datasets = pd.DataFrame({
        "name": ["raw_credit.g", "credit_g", "iris", "wine", "copy_of_wine", "alpha",
                 "beta"],
        "target_fingerprint": ["c:700,300", "c:700,300", "c:50,50,50", "c:71,59,48",
                               "c:71,59,48", "c:5,5", "c:5,5"],
        "n_rows": [1000, 1000, 150, 178, 178, 10, 10],
    }, index=[10, 11, 12, 13, 14, 15, 16])
    groups = dataset_groups(datasets)
    assert groups.name == "group"
    assert groups.index.tolist() == datasets.index.tolist()
    assert groups[10] == groups[11] == "raw_credit.g"
    assert groups[13] == groups[14]  # same rows under another name
    assert groups[12] == "iris"
    assert len({groups[10], groups[12], groups[13], groups[15]}) == 4
    assert groups[15] != groups[16]  # a tiny balanced fingerprint is too common to merge
    # Without fingerprints only names count.
    by_name = dataset_groups(datasets[["name"]])
    assert by_name[10] == by_name[11]
    assert by_name[13] != by_name[14]


# ---------------------------------------------------------------------------------------
# Subsampling


def _imbalanced() -> Dataset:
    rng = np.random.default_rng(2)
    y = np.array(["big"] * 180 + ["mid"] * 60 + ["rare"] * 3)
    return make_dataset(pd.DataFrame({"a": rng.normal(size=len(y)),
                                      "row": np.arange(len(y), dtype=float)}), y)


def test_subsample_stratified_keeps_every_class():
    ds = _imbalanced()
    small = ds.subsample(40, seed=0)
    assert small.y.value_counts().to_dict() == {"big": 30, "mid": 10, "rare": 2}
    assert small.n_rows == 42
    assert (small.name, small.task, small.source) == (ds.name, ds.task, ds.source)
    # Rows stay paired with their labels, in their original order.
    rows = small.X["row"].astype(int).to_numpy()
    assert np.all(np.diff(rows) > 0)
    assert small.y.tolist() == ds.y.iloc[rows].tolist()
    assert small.X.index.tolist() == list(range(42))


def test_subsample_is_deterministic():
    ds = _imbalanced()
    first, again = ds.subsample(40, seed=5), ds.subsample(40, seed=5)
    pd.testing.assert_frame_equal(first.X, again.X)
    pd.testing.assert_series_equal(first.y, again.y)
    other = ds.subsample(40, seed=6)
    assert first.X["row"].tolist() != other.X["row"].tolist()


def test_subsample_regression_and_no_op():
    rng = np.random.default_rng(0)
    ds = make_dataset(pd.DataFrame({"a": rng.normal(size=100)}), rng.normal(size=100))
    small = ds.subsample(25, seed=1)
    assert small.n_rows == 25
    assert small.task == "regression"
    assert ds.subsample(100) is ds
    assert ds.subsample(500) is ds
