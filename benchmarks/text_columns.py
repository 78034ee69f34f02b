"""Text columns: typing them without a Python call per value.

``prepare_X`` (in ``fit``, ``load_dataset``, ``recommend``...) decides whether each text
column holds numbers, dates or categories, and turns categories into text categories;
``predict`` does the latter again. Before stop 44 both looked at every value in Python:
the set of the values' types, a full numeric parse, and ``str`` of each value. Now a
vectorised check (``pandas.api.types.infer_dtype``) tells text columns, the first value
decides whether a full numeric parse can succeed, and ``text_categories`` takes ``str``
of the distinct values only. The output is the same.

This benchmark times ``prepare_X`` and a saved model's ``predict`` (its columns typed as
in fit) on frames of text columns, both ways in the same process: ``before`` (the
previous functions, copied here and patched in) and ``shipped``, alternating, and checks
that both give equal frames and predictions. Reported: medians over ``--repeats`` and
the ratio (before over shipped).

    python benchmarks/text_columns.py

writes benchmarks/results/text_columns.{json,md}.
"""

from __future__ import annotations

import argparse
import decimal
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import automl_meta.data as data
import automl_meta.estimators as estimators
from automl_meta.exceptions import DataValidationError

#: (rows, text columns of 8 categories); the frames also hold one numeric column.
SHAPES = ((200_000, 20), (1_000_000, 5))
ARMS = ("before", "shipped")


def _column_kind_before(col: pd.Series) -> str:
    """``automl_meta.data._column_kind`` before stop 44."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return "categorical"
    if (pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col)
            or pd.api.types.is_datetime64_any_dtype(col)
            or pd.api.types.is_timedelta64_dtype(col)):
        return "numeric"
    values = col.dropna()
    if values.empty:
        return "numeric"
    types = {type(v) for v in values}
    if data._as_dates(values) is not None:
        return "numeric"
    nested = sorted(t.__name__ for t in types
                    if issubclass(t, (list, tuple, dict, set, np.ndarray)))
    if nested:
        raise DataValidationError(f"column {col.name!r} holds {', '.join(nested)} values")
    if types <= {str}:
        as_number = pd.to_numeric(values, errors="coerce")
        return "numeric" if as_number.notna().all() else "categorical"
    numbers = {t for t in types
               if issubclass(t, (int, float, np.number, decimal.Decimal)) and t is not bool}
    if numbers and types - numbers:
        raise DataValidationError(f"column {col.name!r} mixes value types")
    return "numeric" if numbers else "categorical"


def _text_categories_before(col: pd.Series) -> pd.Series:
    """``str`` of each value, as ``prepare_X`` and ``predict`` did before stop 44."""
    return col.astype(object).map(lambda v: None if pd.isna(v) else str(v)).astype(
        "category")


BEFORE = {(data, "_column_kind"): _column_kind_before,
          (data, "text_categories"): _text_categories_before,
          (estimators, "text_categories"): _text_categories_before}
SHIPPED = {key: getattr(*key) for key in BEFORE}


def frame(rows: int, columns: int, seed: int = 0) -> pd.DataFrame:
    """Text columns of 8 categories (one value in 20 missing), as a CSV file gives them,
    and one numeric column."""
    rng = np.random.default_rng(seed)
    categories = np.array([f"level_{i}" for i in range(8)], dtype=object)
    out = {}
    for j in range(columns):
        values = categories[rng.integers(0, 8, rows)]
        values[rng.random(rows) < 0.05] = None
        out[f"t{j}"] = pd.array(values, dtype="str")
    out["x"] = rng.normal(size=rows)
    return pd.DataFrame(out)


def run(arm: str, what, *args):
    for (module, name), value in (BEFORE if arm == "before" else SHIPPED).items():
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
    small = frame(2_000, 3, seed=1)
    model = estimators.AutoMetaClassifier(
        n_trials=1, families=["lightgbm"], knowledge_base=False, ensemble_size=1, cv=3,
        random_state=0).fit(small, (small["x"] > 0).astype(int))
    rows, records = [], []
    for n_rows, n_columns in SHAPES:
        X = frame(n_rows, n_columns)
        model_input = X[small.columns]
        for what, call, arg in (("prepare_X", data.prepare_X, X),
                                ("predict", model.predict, model_input)):
            seconds: dict[str, list[float]] = {arm: [] for arm in ARMS}
            outputs = {}
            for repeat in range(args.repeats):
                for arm in ARMS if repeat % 2 == 0 else ARMS[::-1]:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        spent, outputs[arm] = run(arm, call, arg)
                    seconds[arm].append(spent)
                    records.append({"rows": n_rows, "columns": n_columns, "what": what,
                                    "arm": arm, "repeat": repeat, "seconds": spent})
            if what == "prepare_X":
                pd.testing.assert_frame_equal(outputs["before"], outputs["shipped"])
            else:
                np.testing.assert_array_equal(outputs["before"], outputs["shipped"])
            medians = {arm: float(np.median(seconds[arm])) for arm in ARMS}
            rows.append({"rows": n_rows, "columns": n_columns, "what": what, **medians,
                         "ratio": medians["before"] / medians["shipped"]})
            print(f"{n_rows} x {n_columns} {what}: before {medians['before']:.2f} s, "
                  f"shipped {medians['shipped']:.2f} s", flush=True)
    elapsed = time.monotonic() - began
    command = "python benchmarks/text_columns.py" + ("" if args.name == "text_columns"
                                                     else f" --name {args.name}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(
        {"command": command, "repeats": args.repeats, "seconds": elapsed,
         "machine": platform.platform(), "summary": rows, "records": records}, indent=1))
    lines = ["# Text columns: typed without a Python call per value", "",
             f"Reproduce with `{command}`; {args.repeats} runs per shape, measure and arm, "
             f"one process ({elapsed:.0f} s).", "",
             "Seconds (median) of `prepare_X` on a frame of text columns (8 categories, "
             "one value in 20 missing) and one numeric column, and of a saved model's "
             "`predict` on three of those columns; before: a Python call per value; "
             "shipped: vectorised. The outputs of the two are equal.", "",
             "| rows | text columns | measure | before | shipped | ratio |",
             "|---:|---:|---|---:|---:|---:|"]
    lines += [f"| {r['rows']} | {r['columns']} | {r['what']} | {r['before']:.2f} | "
              f"{r['shipped']:.2f} | {r['ratio']:.1f} |" for r in rows]
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
