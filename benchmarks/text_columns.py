"""Text columns: typing them without a Python call per value, and parsing them once.

``prepare_X`` (in ``fit``, ``load_dataset``, ``recommend``...) decides whether each text
column holds numbers, dates or categories, and turns categories into text categories;
``predict`` does the latter again. Before stop 44 both looked at every value in Python:
the set of the values' types, a full numeric parse, and ``str`` of each value. At stop
44 a vectorised check (``pandas.api.types.infer_dtype``) told text columns, the first
value decided whether a full numeric parse could succeed, and ``text_categories`` took
``str`` of the distinct values only. Numbers and dates as text were still parsed twice:
once to tell the column's kind, once to convert it. Since stop 45 the parse that tells
the kind is the one kept. The output is the same throughout.

This benchmark times ``prepare_X`` and a saved model's ``predict`` (its columns typed as
in fit) on frames of text columns, three ways in the same process: ``before`` (stop 43's
functions, copied here and patched in), ``stop 44`` (stop 44's kind check, then the
conversion) and ``shipped``, in turn, and checks that all give equal frames and
predictions. Reported: medians over ``--repeats`` and the ratios to ``shipped``.

    python benchmarks/text_columns.py

writes benchmarks/results/text_columns.{json,md}.
"""

from __future__ import annotations

import argparse
import decimal
import functools
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import automl_meta.data as data
import automl_meta.estimators as estimators
from automl_meta.exceptions import DataValidationError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from preprocessing import arm_records, time_arms, write_results  # noqa: E402

#: (rows, text columns, what they hold); the frames also hold one numeric column.
SHAPES = ((200_000, 20, "categories"), (1_000_000, 5, "categories"),
          (1_000_000, 4, "numbers and dates"))


def _column_kind_before(col: pd.Series, per_value: bool) -> str:
    """The kind check of ``prepare_X`` before stop 45 (``automl_meta.data._column_kind``):
    the type of every value (``per_value``, as before stop 44) or a vectorised check that
    tells text columns, and a numeric parse whose result is not kept."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return "categorical"
    if (pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col)
            or pd.api.types.is_datetime64_any_dtype(col)
            or pd.api.types.is_timedelta64_dtype(col)):
        return "numeric"
    values = col.dropna()
    if values.empty:
        return "numeric"
    if data._as_dates(values) is not None:
        return "numeric"
    if not per_value and (isinstance(col.dtype, pd.StringDtype) or pd.api.types.infer_dtype(
            values, skipna=True) == "string"):
        types = {str}
    else:
        types = {type(v) for v in values}
    nested = sorted(t.__name__ for t in types
                    if issubclass(t, (list, tuple, dict, set, np.ndarray)))
    if nested:
        raise DataValidationError(f"column {col.name!r} holds {', '.join(nested)} values")
    if types <= {str}:
        if not per_value and pd.to_numeric(values.iloc[:1], errors="coerce").isna().all():
            return "categorical"
        as_number = pd.to_numeric(values, errors="coerce")
        return "numeric" if as_number.notna().all() else "categorical"
    numbers = {t for t in types
               if issubclass(t, (int, float, np.number, decimal.Decimal)) and t is not bool}
    if numbers and types - numbers:
        raise DataValidationError(f"column {col.name!r} mixes value types")
    return "numeric" if numbers else "categorical"


def _numeric_before(col: pd.Series, per_value: bool) -> np.ndarray | None:
    """``automl_meta.data._numeric`` before stop 45: the kind check, then the conversion."""
    if _column_kind_before(col, per_value) == "categorical":
        return None
    return data.numeric_values(col)


def _text_categories_before(col: pd.Series) -> pd.Series:
    """``str`` of each value, as ``prepare_X`` and ``predict`` did before stop 44."""
    return col.astype(object).map(lambda v: None if pd.isna(v) else str(v)).astype(
        "category")


#: What each arm patches in: ``before`` stop 43's functions, ``stop 44`` its kind check.
PATCHES = {
    "before": {(data, "_numeric"): functools.partial(_numeric_before, per_value=True),
               (data, "text_categories"): _text_categories_before,
               (estimators, "text_categories"): _text_categories_before},
    "stop 44": {(data, "_numeric"): functools.partial(_numeric_before, per_value=False)},
    "shipped": {},
}
ARMS = tuple(PATCHES)
SHIPPED = {key: getattr(*key) for key in PATCHES["before"]}


def frame(rows: int, columns: int, holds: str = "categories", seed: int = 0) -> pd.DataFrame:
    """Text columns (one value in 20 missing), as a CSV file gives them, and one numeric
    column. ``holds``: ``categories`` (8 of them) or ``numbers and dates`` (numbers with
    three decimals, and ISO 8601 dates and times, in turn)."""
    rng = np.random.default_rng(seed)
    categories = np.array([f"level_{i}" for i in range(8)], dtype=object)
    out = {}
    for j in range(columns):
        if holds == "categories":
            values = categories[rng.integers(0, 8, rows)]
        elif j % 2 == 0:
            values = np.round(rng.normal(size=rows), 3).astype(str).astype(object)
        else:
            values = (pd.Timestamp("2020-01-01") + pd.to_timedelta(
                rng.integers(0, 10**8, rows), unit="s")).astype(str).to_numpy(dtype=object)
        values[rng.random(rows) < 0.05] = None
        out[f"t{j}"] = pd.Series(values)
    out["x"] = rng.normal(size=rows)
    return pd.DataFrame(out)


def run(arm: str, what, *args):
    for (module, name), value in PATCHES[arm].items():
        setattr(module, name, value)
    try:
        began = time.perf_counter()
        output = what(*args)
        return time.perf_counter() - began, output
    finally:
        for (module, name), value in SHIPPED.items():
            setattr(module, name, value)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--name", default="text_columns")
    args = parser.parse_args(argv)
    began = time.monotonic()
    rows, records, models = [], [], {}
    for n_rows, n_columns, holds in SHAPES:
        if holds not in models:
            small = frame(2_000, 2, holds, seed=1)
            models[holds] = estimators.AutoMetaClassifier(
                n_trials=1, families=["lightgbm"], knowledge_base=False, ensemble_size=1,
                cv=3, random_state=0).fit(small, (small["x"] > 0).astype(int))
        model = models[holds]
        X = frame(n_rows, n_columns, holds)
        for what, call, arg in (("prepare_X", data.prepare_X, X),
                                ("predict", model.predict, X[model.feature_names_in_])):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                seconds, outputs = time_arms(ARMS, args.repeats, run, call, arg)
            records += arm_records({"rows": n_rows, "columns": n_columns, "holds": holds,
                                    "what": what}, seconds)
            for arm in ARMS[:-1]:
                if what == "prepare_X":
                    pd.testing.assert_frame_equal(outputs[arm], outputs["shipped"])
                else:
                    np.testing.assert_array_equal(outputs[arm], outputs["shipped"])
            medians = {arm: float(np.median(seconds[arm])) for arm in ARMS}
            rows.append({"rows": n_rows, "columns": n_columns, "holds": holds, "what": what,
                         **medians})
            print(f"{n_rows} x {n_columns} {holds} {what}: " + ", ".join(
                f"{arm} {medians[arm]:.2f} s" for arm in ARMS), flush=True)
    lines = ["Seconds (median) of `prepare_X` on a frame of text columns (one value in 20 "
             "missing) and one numeric column, and of a saved model's `predict` on two "
             "of those columns and the numeric one. The columns hold 8 categories, or "
             "numbers and ISO 8601 dates in turn. before: a Python call per value "
             "(stop 43); stop 44: vectorised, numbers and dates parsed twice; shipped: "
             "parsed once. The outputs of the three are equal.", "",
             "| rows | text columns | they hold | measure | before | stop 44 | shipped "
             "| before / shipped | stop 44 / shipped |",
             "|---:|---:|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['rows']} | {r['columns']} | {r['holds']} | {r['what']} | "
              f"{r['before']:.2f} | {r['stop 44']:.2f} | {r['shipped']:.2f} | "
              f"{r['before'] / r['shipped']:.1f} | {r['stop 44'] / r['shipped']:.2f} |"
              for r in rows]
    write_results(args, "text_columns",
                  "Text columns: typed without a Python call per value, and parsed once",
                  time.monotonic() - began, rows, records, lines)


if __name__ == "__main__":
    main()
