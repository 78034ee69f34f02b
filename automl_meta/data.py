"""Datasets: loading tabular data from files, DataFrames and OpenML, and checking it.

A :class:`Dataset` is what every later stage consumes: ``X`` as a DataFrame whose numeric
columns are ``float64`` and whose categorical columns have the pandas ``category`` dtype,
``y`` as a Series, and the task type.

Example
-------
>>> from automl_meta import load_dataset
>>> ds = load_dataset("examples/data/credit.csv", target="class")  # doctest: +SKIP
>>> ds.task, ds.X.shape  # doctest: +SKIP
('classification', (1000, 20))
"""

from __future__ import annotations

import datetime
import decimal
import gzip
import os
import re
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from automl_meta.exceptions import DataSourceError, DataValidationError

TASKS = ("classification", "regression")

#: Target column names tried, in order, when ``target`` is not given for a table.
DEFAULT_TARGET_NAMES = ("target", "class", "Class", "y", "label")

#: A numeric target with at most this many distinct integer values is taken as classes.
MAX_CLASSES_FOR_INFERENCE = 20


@dataclass(frozen=True)
class Schema:
    """Column layout of a dataset: what the pipeline builder needs to know."""

    numeric: tuple[str, ...]
    categorical: dict[str, int] = field(default_factory=dict)  # column -> n categories

    @classmethod
    def from_frame(cls, X: pd.DataFrame) -> Schema:
        dtypes = X.dtypes.items()  # not X[c].dtype: a column lookup each is slow on wide data
        numeric, categorical = [], {}
        for c, dtype in dtypes:
            if isinstance(dtype, pd.CategoricalDtype):
                categorical[c] = len(dtype.categories)
            else:
                numeric.append(c)
        return cls(numeric=tuple(numeric), categorical=categorical)


@dataclass
class Dataset:
    """A supervised tabular dataset, checked and typed.

    Attributes
    ----------
    X : DataFrame of float64 and category columns, string column names.
    y : Series of class labels (classification) or float64 values (regression).
    task : ``"classification"`` or ``"regression"``.
    name, source : where it came from; ``openml_id`` when known.
    """

    X: pd.DataFrame
    y: pd.Series
    task: str
    name: str
    source: str
    openml_id: int | None = None

    @property
    def n_rows(self) -> int:
        return len(self.X)

    @property
    def n_features(self) -> int:
        return self.X.shape[1]

    @property
    def n_classes(self) -> int | None:
        return int(self.y.nunique()) if self.task == "classification" else None

    @property
    def schema(self) -> Schema:
        return Schema.from_frame(self.X)

    def subsample(self, max_rows: int, seed: int = 0) -> Dataset:
        """Return about ``max_rows`` rows (stratified for classification), fixed seed.

        Each class keeps at least two rows, so a rare class can add a few rows over the cap.
        """
        if self.n_rows <= max_rows:
            return self
        idx = subsample_index(self.y, self.task, max_rows, seed)
        return Dataset(
            X=self.X.iloc[idx].reset_index(drop=True),
            y=self.y.iloc[idx].reset_index(drop=True),
            task=self.task,
            name=self.name,
            source=self.source,
            openml_id=self.openml_id,
        )


def subsample_index(y: pd.Series, task: str, max_rows: int, seed: int) -> np.ndarray:
    """Sorted row positions of a subsample; every class keeps at least 2 rows if it can."""
    rng = np.random.default_rng(seed)
    n = len(y)
    if task != "classification":
        return np.sort(rng.choice(n, size=max_rows, replace=False))
    codes, _ = pd.factorize(y)
    chosen = []
    fraction = max_rows / n
    for code in np.unique(codes):
        members = np.flatnonzero(codes == code)
        take = min(len(members), max(2, int(round(fraction * len(members)))))
        chosen.append(rng.choice(members, size=take, replace=False))
    return np.sort(np.concatenate(chosen))


# ---------------------------------------------------------------------------------------
# Checking and typing


def infer_task(y: pd.Series) -> str:
    """``"regression"`` for a float target with many or non-integer values, else classes."""
    if isinstance(y.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(y):
        return "classification"
    if pd.api.types.is_bool_dtype(y):
        return "classification"
    values = y.dropna().to_numpy(dtype=float)
    integral = np.all(np.isfinite(values)) and np.all(values == np.round(values))
    if integral and len(np.unique(values)) <= MAX_CLASSES_FOR_INFERENCE:
        return "classification"
    return "regression"


def _numeric(col: pd.Series) -> np.ndarray | None:
    """A column's values as :func:`numeric_values` gives them when it holds numbers, dates,
    times or durations, or numbers or dates as text; None when it holds categories. Raises
    on a column mixing numbers and strings, and on one holding lists or other containers.

    Dates, times and durations are numeric: as categories, every date after the training
    data's would be one never seen. Text is parsed once: the parse that tells numbers or
    dates is the one returned.
    """
    if isinstance(col.dtype, pd.CategoricalDtype):
        return None
    if (pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col)
            or pd.api.types.is_datetime64_any_dtype(col)
            or pd.api.types.is_timedelta64_dtype(col)):
        return numeric_values(col)
    values = col.dropna()
    if values.empty:
        return numeric_values(col)
    dates = _as_dates(col, values)  # as a database returns them, or ISO 8601 text
    if dates is not None:
        return numeric_values(dates)
    # The type of every value, unless a vectorised check says they are all text.
    if isinstance(col.dtype, pd.StringDtype) or pd.api.types.infer_dtype(
            values, skipna=True) == "string":
        types = {str}
    else:
        types = {type(v) for v in values}
    nested = sorted(t.__name__ for t in types
                    if issubclass(t, (list, tuple, dict, set, np.ndarray)))
    if nested:
        raise DataValidationError(f"column {col.name!r} holds {', '.join(nested)} values; a "
                                  "cell must hold one number or one category")
    if types <= {str}:
        # Numbers as text: all of them parse, so the first one must (most columns fail it).
        if pd.to_numeric(values.iloc[:1], errors="coerce").isna().all():
            return None
        as_number = pd.to_numeric(col, errors="coerce")
        if int(as_number.notna().sum()) < len(values):
            return None
        return as_number.to_numpy(dtype="float64", na_value=np.nan)
    numbers = {t for t in types
               if issubclass(t, (int, float, np.number, decimal.Decimal)) and t is not bool}
    if numbers and types - numbers:
        names = ", ".join(sorted(t.__name__ for t in types))
        raise DataValidationError(
            f"column {col.name!r} mixes value types ({names}); convert it to one type"
        )
    return numeric_values(col) if numbers else None


def numeric_values(col: pd.Series) -> np.ndarray:
    """A numeric column's values as float64, NaN where missing: numbers or numeric text as
    they are, dates and times as seconds since 1970 (UTC for time zones), durations as
    seconds. Raises ``ValueError`` or ``TypeError`` on other values."""
    if col.dtype == object or pd.api.types.is_string_dtype(col):
        dates = _as_dates(col)
        if dates is not None:
            col = dates
    if pd.api.types.is_datetime64_any_dtype(col):
        if col.dt.tz is not None:
            col = col.dt.tz_convert(None)
        col = col - pd.Timestamp(0)
    if pd.api.types.is_timedelta64_dtype(col):
        return (col / pd.Timedelta(seconds=1)).to_numpy(dtype="float64", na_value=np.nan)
    return pd.to_numeric(col, errors="raise").to_numpy(dtype="float64", na_value=np.nan)


#: Dates and times as ISO 8601 writes them ("2024-05-01", "2024-05-01 12:30:00+02:00").
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?")


def _as_dates(col: pd.Series, present: pd.Series | None = None) -> pd.Series | None:
    """``col`` as UTC datetimes (naive ones taken as UTC) when every value present (those
    of ``present``, when given) is a date, a Python one or ISO 8601 text (as a CSV file
    holds it); else None. The first value decides whether to try, parsing decides the
    rest (vectorised: a million values in a fraction of a second)."""
    if present is None:
        present = col.dropna()
    if present.empty:
        return None
    first = present.iloc[0]
    if not (isinstance(first, datetime.date)
            or (isinstance(first, str) and _ISO_DATE.fullmatch(first))):
        return None
    dates = pd.to_datetime(col, utc=True, format="ISO8601", errors="coerce")
    return dates if int(dates.notna().sum()) == len(present) else None


def column_names(columns, what: str = "X") -> list[str]:
    """The column names as strings; :class:`DataValidationError` if two are the same."""
    names = [c if isinstance(c, str) else str(c) for c in columns]
    duplicated = sorted(n for n, count in Counter(names).items() if count > 1)
    if duplicated:
        raise DataValidationError(f"{what} has duplicate column names: {duplicated}")
    return names


def prepare_X(
    X: pd.DataFrame | np.ndarray, *, what: str = "X", drop_empty: bool = False
) -> pd.DataFrame:
    """Check ``X`` and return a copy with float64 and category columns.

    Raises :class:`DataValidationError` for empty data, duplicate column names, mixed-type
    columns, columns without any value (left out instead when ``drop_empty``), infinite
    values and values beyond the range of 32-bit floats, naming the offending columns.
    """
    if isinstance(X, np.ndarray):
        if X.ndim != 2:
            raise DataValidationError(f"{what} must be 2-dimensional, got shape {X.shape}")
        X = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    elif not isinstance(X, pd.DataFrame):
        try:
            X = pd.DataFrame(X)
        except Exception as exc:  # noqa: BLE001 - re-raised with context
            raise DataValidationError(f"{what} cannot be read as a table: {exc}") from exc
    if X.shape[0] == 0:
        raise DataValidationError(f"{what} has no rows")
    if X.shape[1] == 0:
        raise DataValidationError(f"{what} has no feature columns")
    names = column_names(X.columns, what)
    # Columns of a plain numeric dtype (all of them, in wide data) are converted as one
    # matrix: one by one, 10,000 columns would take most of a minute.
    plain = [is_plain_numeric(dtype) for dtype in X.dtypes]
    matrix = X.loc[:, plain].to_numpy(dtype="float64", na_value=np.nan)
    numeric_columns = iter(matrix.T)
    out, empty = {}, []
    for i, (name, is_plain) in enumerate(zip(names, plain, strict=True)):
        col = next(numeric_columns) if is_plain else X.iloc[:, i].rename(name)
        if pd.isna(col).all():
            empty.append(name)
            continue
        values = col if is_plain else _numeric(col)
        if values is None:
            out[name] = _as_category(col)
            continue
        check_finite_range(values, name, what)
        out[name] = values
    if len(empty) == len(names):
        raise DataValidationError(f"{what} has no column with any value")
    if empty and not drop_empty:
        shown = ", ".join(map(repr, empty[:10])) + (", ..." if len(empty) > 10 else "")
        raise DataValidationError(
            f"column {shown} of {what} is entirely missing; drop it" if len(empty) == 1 else
            f"{len(empty)} columns of {what} are entirely missing: {shown}; drop them")
    return pd.DataFrame(out, index=pd.RangeIndex(len(X)))


# Tree models (scikit-learn's and LightGBM's) work in 32-bit floats.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_finite_range(values: np.ndarray, name: str, what: str = "X") -> None:
    """Refuse infinite values, and values beyond the range of 32-bit floats."""
    if np.isinf(values).any():
        raise DataValidationError(f"column {name!r} of {what} contains infinite values")
    if (np.abs(values) > FLOAT32_MAX).any():
        raise DataValidationError(
            f"column {name!r} of {what} holds values beyond +-{FLOAT32_MAX:.1e}, the range "
            "of the 32-bit floats that tree models work in; rescale it (for example "
            "divide it by a power of ten)")


def is_plain_numeric(dtype) -> bool:
    """A bool or real-number dtype, whose values convert to float64 as they are."""
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_complex_dtype(dtype):
        return False
    return pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype)


def _as_category(col: pd.Series) -> pd.Series:
    if isinstance(col.dtype, pd.CategoricalDtype):
        col = col.cat.remove_unused_categories()
        return col.cat.rename_categories([str(c) for c in col.cat.categories]).reset_index(
            drop=True
        )
    return text_categories(col).reset_index(drop=True)


def text_categories(col: pd.Series) -> pd.Series:
    """``col``'s values as text in a category column, missing values missing; its
    categories are the texts present, sorted. The same as ``str`` of each value, from
    the distinct values only (a Python call per value took 17 s on 500,000 x 20)."""
    values = pd.Categorical(col)  # missing values (None, NaN, NaT, NA) get no category
    names = [str(c) for c in values.categories]
    if len(set(names)) < len(names):  # two values of one text, such as 1 and "1"
        text = col.astype(object).map(lambda v: None if pd.isna(v) else str(v))
        return text.astype("category")
    values = pd.Categorical.from_codes(values.codes, categories=names)
    values = values.remove_unused_categories()
    return pd.Series(values.reorder_categories(sorted(values.categories)), index=col.index,
                     name=col.name)


def check_target_complete(y) -> None:
    """Raise :class:`DataValidationError` naming how many values of ``y`` are missing."""
    missing = y.isna() if isinstance(y, pd.Series) else pd.isna(np.asarray(y, dtype=object))
    n_missing = int(np.sum(missing))
    if n_missing:
        raise DataValidationError(f"the target has {n_missing} missing values; drop those rows")


def prepare_y(y, task: str | None, *, n_rows: int | None = None) -> tuple[pd.Series, str]:
    """Check the target and return it with its task type (inferred when ``task`` is None)."""
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise DataValidationError(f"y must be one column, got {y.shape[1]} columns")
        y = y.iloc[:, 0]
    y = pd.Series(np.asarray(y) if not isinstance(y, pd.Series) else y).reset_index(drop=True)
    if y.ndim != 1:
        raise DataValidationError("y must be one-dimensional")
    if n_rows is not None and len(y) != n_rows:
        raise DataValidationError(f"X has {n_rows} rows but y has {len(y)} values")
    if len(y) == 0:
        raise DataValidationError("y is empty")
    check_target_complete(y)
    if task is None:
        task = infer_task(y)
    if task not in TASKS:
        raise DataValidationError(f"task must be one of {TASKS}, got {task!r}")
    if task == "regression":
        try:
            y = pd.to_numeric(y, errors="raise").astype("float64")
        except (ValueError, TypeError) as exc:
            raise DataValidationError(f"a regression target must be numeric: {exc}") from exc
        if not np.isfinite(y.to_numpy()).all():
            raise DataValidationError("the target contains infinite values")
        if (y.abs() > FLOAT32_MAX).any():
            raise DataValidationError(
                f"the target holds values beyond +-{FLOAT32_MAX:.1e}, the range of the 32-bit "
                "floats that LightGBM keeps targets in; rescale it")
        if y.nunique() < 2:
            raise DataValidationError("the regression target is constant")
    else:
        if (isinstance(y.dtype, pd.api.extensions.ExtensionDtype)
                and not isinstance(y.dtype, pd.CategoricalDtype)):
            # Nullable integers, booleans, strings: their NumPy type, which models keep
            # (they turn the nullable ones into floats: labels 1.0 for 1 and for True).
            y = y.astype(getattr(y.dtype, "numpy_dtype", None) or object)
        if pd.api.types.is_float_dtype(y) and not np.isfinite(y.to_numpy()).all():
            raise DataValidationError("the target contains infinite values")
        if y.nunique() < 2:
            raise DataValidationError(
                f"the target has a single class ({y.iloc[0]!r}); classification needs two"
            )
    return y.rename("target"), task


def make_dataset(
    X,
    y,
    *,
    task: str | None = None,
    name: str = "data",
    source: str = "memory",
    openml_id: int | None = None,
) -> Dataset:
    """Check ``X`` and ``y`` and bundle them as a :class:`Dataset`."""
    X = prepare_X(X)
    y, task = prepare_y(y, task, n_rows=len(X))
    return Dataset(X=X, y=y, task=task, name=name, source=source, openml_id=openml_id)


# ---------------------------------------------------------------------------------------
# Sources

_OPENML = re.compile(r"^openml:(\d+)$")


def load_dataset(
    source: str | os.PathLike | pd.DataFrame,
    target: str | None = None,
    *,
    task: str | None = None,
    name: str | None = None,
) -> Dataset:
    """Load a dataset from a file, a DataFrame or OpenML.

    Parameters
    ----------
    source
        A path to CSV or TSV (optionally gzipped), ARFF or Parquet; a DataFrame holding the
        target column; or ``"openml:<id>"``, read through openml-python and its cache.
    target
        The target column. Default: OpenML's default target, an ARFF file's last
        attribute, or the first of ``target``, ``class``, ``Class``, ``y``, ``label``.
    task
        ``"classification"`` or ``"regression"``; inferred from the target when omitted.
    name
        Name of the dataset; defaults to the file stem or the OpenML name.

    Raises
    ------
    DataSourceError
        The source cannot be read (missing file, unknown format, OpenML unreachable).
    DataValidationError
        The content is unusable (empty, unknown target, single class, a column without any
        value, inf, ...).
    """
    return load_source(source, target, task, name)


def load_source(source, target=None, task=None, name=None, *, drop: Sequence[str] = (),
                drop_empty: bool = False) -> Dataset:
    """:func:`load_dataset`, leaving out the feature columns named in ``drop`` before they
    are checked (the command line's ``--drop``); ``drop_empty`` leaves out columns without
    any value instead of refusing them (for the datasets a knowledge base is built from)."""
    options = {"drop": list(drop), "drop_empty": drop_empty}
    if isinstance(source, pd.DataFrame):
        return _from_frame(source, target, task, name or "dataframe", "dataframe", None, None,
                           **options)
    if not isinstance(source, (str, os.PathLike)):
        raise DataSourceError(
            f"source must be a path, a DataFrame or 'openml:<id>', got {type(source).__name__}"
        )
    text = os.fspath(source)
    match = _OPENML.match(text)
    if match:
        return _load_openml(int(match.group(1)), target, task, **options)
    if text.startswith("openml:"):
        raise DataSourceError(f"{text!r}: an OpenML source is 'openml:<integer dataset id>'")
    path = Path(text)
    if not path.is_file():
        raise DataSourceError(f"no such file: {path}")
    frame, default_target = read_table(path)
    stem = path.name.split(".")[0]
    return _from_frame(frame, target, task, name or stem, str(path), None, default_target,
                       **options)


def _from_frame(
    frame, target, task, name, source, openml_id, default_target, drop=(), drop_empty=False
) -> Dataset:
    if frame.shape[0] == 0:
        raise DataValidationError(f"{source}: the table has no rows")
    columns = [str(c) for c in frame.columns]
    if target is None:
        candidates = [default_target] if default_target else []
        candidates += [c for c in DEFAULT_TARGET_NAMES if c in columns]
        if not candidates:
            raise DataValidationError(
                f"{source}: no target column given and none of {DEFAULT_TARGET_NAMES} present;"
                f" pass target=<one of {columns[:10]}{'...' if len(columns) > 10 else ''}>"
            )
        target = candidates[0]
    if target not in columns:
        raise DataValidationError(
            f"{source}: target column {target!r} not found; columns are "
            f"{columns[:10]}{'...' if len(columns) > 10 else ''}"
        )
    position = columns.index(target)
    y = frame.iloc[:, position]
    X = _without(frame.drop(columns=frame.columns[position]), drop, source)
    X = prepare_X(X, drop_empty=drop_empty)
    y, task = prepare_y(y, task, n_rows=len(X))
    return Dataset(X=X, y=y, task=task, name=name, source=source, openml_id=openml_id)


def _without(X: pd.DataFrame, drop: Sequence[str], source: str) -> pd.DataFrame:
    """``X`` without the columns named in ``drop`` (each must be one of its columns)."""
    names = [str(c) for c in X.columns]
    for column in drop:
        if column not in names:
            raise DataValidationError(f"no column {column!r} to leave out among the features "
                                      f"of {source}")
    return X.loc[:, [c not in drop for c in names]] if drop else X


def read_table(path: Path) -> tuple[pd.DataFrame, str | None]:
    """Read a data file into a DataFrame; also return the format's default target if any."""
    suffixes = [s.lower() for s in path.suffixes]
    compressed = bool(suffixes) and suffixes[-1] == ".gz"
    kind = suffixes[-2] if compressed and len(suffixes) > 1 else (suffixes[-1] if suffixes else "")
    try:
        if path.stat().st_size == 0:
            raise DataValidationError(f"{path}: the file is empty")
        if kind in (".csv", ".tsv", ".txt"):
            sep = "\t" if kind == ".tsv" else ","
            return pd.read_csv(path, sep=sep, na_values=["?"], low_memory=False), None
        if kind in (".parquet", ".pq"):
            return _read_parquet(path), None
        if kind == ".arff":
            opener = gzip.open if compressed else open
            with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
                return read_arff(fh.read())
    except pd.errors.EmptyDataError as exc:
        raise DataValidationError(f"{path}: the file is empty") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise DataSourceError(f"{path}: cannot be parsed: {exc}") from exc
    raise DataSourceError(
        f"{path}: unknown format {''.join(suffixes)!r}; use .csv, .tsv (optionally .gz), "
        ".arff or .parquet"
    )


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises its own error types
        raise DataSourceError(f"{path}: not a readable Parquet file: {exc}") from exc


def read_arff(text: str) -> tuple[pd.DataFrame, str]:
    """Parse ARFF text; nominal attributes become categoricals, ``?`` becomes NaN."""
    import arff  # liac-arff

    try:
        parsed = arff.loads(text)
    except Exception as exc:  # noqa: BLE001 - liac-arff raises many types
        raise DataValidationError(f"invalid ARFF: {exc}") from exc
    attributes = parsed["attributes"]
    if not attributes:
        raise DataValidationError("the ARFF file declares no attributes")
    names = [a[0] for a in attributes]
    frame = pd.DataFrame(parsed["data"], columns=names)
    for name, kind in attributes:
        if isinstance(kind, list):
            frame[name] = pd.Categorical(frame[name], categories=list(dict.fromkeys(kind)))
        elif str(kind).upper() in ("NUMERIC", "REAL", "INTEGER"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame, names[-1]


def _load_openml(dataset_id: int, target: str | None, task: str | None,
                 drop: Sequence[str], drop_empty: bool) -> Dataset:
    import openml

    try:
        oml = openml.datasets.get_dataset(
            dataset_id,
            download_data=True,
            download_qualities=False,
            download_features_meta_data=False,
        )
        target = target or oml.default_target_attribute
        X, y, _, _ = oml.get_data(target=target)
    except Exception as exc:  # noqa: BLE001 - openml raises server, network and cache errors
        cache = openml.config.get_cache_directory()
        raise DataSourceError(
            f"OpenML dataset {dataset_id} could not be loaded (not in the cache at {cache} and"
            f" the server could not be used): {type(exc).__name__}: {exc}"
        ) from exc
    if y is None:
        raise DataValidationError(
            f"OpenML dataset {dataset_id} has no default target; pass target=<column>"
        )
    X = prepare_X(_without(X, drop, f"openml:{dataset_id}"), drop_empty=drop_empty)
    y, task = prepare_y(y, task, n_rows=len(X))
    return Dataset(
        X=X, y=y, task=task, name=oml.name, source=f"openml:{dataset_id}", openml_id=dataset_id
    )


# ---------------------------------------------------------------------------------------
# Corpora described by a manifest


MANIFEST_COLUMNS = ("name", "path", "target", "task")


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read a corpus manifest (CSV with at least name, path, target, task).

    Paths are resolved relative to the manifest's folder into an ``abspath`` column;
    ``openml_id`` is kept when present.
    """
    path = Path(path)
    if not path.is_file():
        raise DataSourceError(f"no such manifest: {path}")
    try:
        manifest = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataSourceError(f"{path}: not a readable manifest CSV: {exc}") from exc
    missing = [c for c in MANIFEST_COLUMNS if c not in manifest.columns]
    if missing:
        raise DataValidationError(f"{path}: manifest lacks columns {missing}")
    duplicated = manifest["name"][manifest["name"].duplicated()].tolist()
    if duplicated:
        raise DataValidationError(f"{path}: duplicate dataset names {duplicated[:5]}")
    manifest = manifest.copy()
    manifest["abspath"] = [str((path.parent / p).resolve()) for p in manifest["path"]]
    if "openml_id" not in manifest.columns:
        manifest["openml_id"] = pd.NA
    return manifest


def load_manifest_entry(entry: pd.Series | dict) -> Dataset:
    """Load one manifest row as a :class:`Dataset` (its name, target and task).

    Corpus files are cleaned rather than refused: all-missing columns and rows with a
    missing target are dropped, since a corpus is data we learn from, not a user's input.
    """
    openml_id = entry.get("openml_id")
    openml_id = None if openml_id is None or pd.isna(openml_id) else int(openml_id)
    path = Path(entry["abspath"])
    if not path.is_file():
        raise DataSourceError(f"manifest entry {entry['name']!r}: no such file {path}")
    frame, _ = read_table(path)
    target = str(entry["target"])
    if target in frame.columns:
        frame = frame[frame[target].notna()].reset_index(drop=True)
    return _from_frame(frame, target, entry["task"], entry["name"], str(path), openml_id,
                       None, drop_empty=True)


# ---------------------------------------------------------------------------------------
# Near-duplicate datasets


def target_fingerprint(y: pd.Series, task: str) -> str:
    """A label-free summary of the target that stays the same when data is re-encoded.

    Two copies of one dataset (raw ARFF and an integer-encoded version) share it: sorted
    class counts for classification, a rounded digest of the sorted values for regression.
    """
    if task == "classification":
        counts = sorted(y.value_counts().tolist(), reverse=True)
        return "c:" + ",".join(map(str, counts))
    values = np.sort(y.to_numpy(dtype=float))
    digest = pd.util.hash_array(np.round(values, 6)).sum() % (2**61)
    return f"r:{len(values)}:{digest}"


def name_stem(name: str) -> str:
    """The family part of a dataset name: ``raw_credit.g`` and ``credit_g`` share ``credit``."""
    tokens = [t for t in re.split(r"[^0-9a-z+]+", name.lower()) if t]
    tokens = [t for t in tokens if t not in ("raw", "bng")]
    while tokens and tokens[0].isdigit():
        tokens = tokens[1:]
    if not tokens:
        return name.lower()
    return re.sub(r"[0-9+]+$", "", tokens[0]) or tokens[0]


def dataset_groups(datasets: pd.DataFrame) -> pd.Series:
    """Group ids that keep near-duplicate datasets together for grouped evaluation.

    ``datasets`` needs ``name`` and, when known, ``target_fingerprint`` columns. Datasets
    sharing a name stem (``heart_c``/``heart_h``, ``raw_colic``/``colic``) or an identical
    target fingerprint (the same rows under two names) fall in one group.
    """
    names = datasets["name"].tolist()
    parent = list(range(len(names)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union_by(keys: list[Hashable]) -> None:
        first: dict[Hashable, int] = {}
        for i, key in enumerate(keys):
            if key is None:
                continue
            if key in first:
                parent[find(i)] = find(first[key])
            else:
                first[key] = i

    union_by([name_stem(n) for n in names])
    if "target_fingerprint" in datasets.columns:
        fingerprints = datasets["target_fingerprint"].tolist()
        rows = datasets["n_rows"].tolist() if "n_rows" in datasets.columns else [0] * len(names)
        # A fingerprint of a tiny balanced target is too common to mean "same data".
        union_by([(f, r) if isinstance(f, str) and r >= 50 else None
                  for f, r in zip(fingerprints, rows, strict=True)])
    roots = [find(i) for i in range(len(names))]
    labels = {root: names[root] for root in roots}
    return pd.Series([labels[r] for r in roots], index=datasets.index, name="group")


__all__ = [
    "Dataset",
    "Schema",
    "TASKS",
    "column_names",
    "dataset_groups",
    "infer_task",
    "is_plain_numeric",
    "load_dataset",
    "load_manifest_entry",
    "make_dataset",
    "read_arff",
    "read_manifest",
    "read_table",
    "target_fingerprint",
]
