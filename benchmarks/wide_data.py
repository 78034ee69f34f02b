"""Wide data: what selecting a ColumnTransformer's columns by position saves.

The pipelines of the scaled and ordinal families (k-NN, linear, SVM, MLP, the forests)
preprocess with a ColumnTransformer. Given column names, scikit-learn looks each one up
in the list of the frame's columns, which is quadratic in the number of columns: on
10,000 columns it took most of a k-NN trial's time on 150 rows. The shipped pipelines
give it positions instead (``automl_meta.spaces._Columns``), found through a dict.

This benchmark cross-validates (5 folds, ``automl_meta.evaluation.evaluate``, in this
process) the defaults of k-NN and the linear model, whose fits are cheap beside their
preprocessing, on synthetic data of several shapes (numbers only, or a tenth of the
columns categorical), both ways in the same process: ``names`` (the lists of names, as
before; patched in) and ``positions`` (shipped), alternating. Reported per shape and
family: the median over ``--repeats`` of the CV's seconds, and the ratio (names over
positions). The two arms' fold scores must be equal; the benchmark fails otherwise.

    python benchmarks/wide_data.py

writes benchmarks/results/wide_data.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

import automl_meta.spaces as spaces
from automl_meta.data import make_dataset
from automl_meta.evaluation import evaluate

#: (rows, columns, share of the columns that are categorical)
SHAPES = ((150, 10_000, 0.0), (750, 2_000, 0.0), (2_000, 500, 0.0), (150, 10_000, 0.1))
FAMILIES = ("knn", "linear")
ARMS = ("names", "positions")
SHIPPED = spaces._Columns


class _Names(list):
    """The lists of names the pipelines gave before (``_Columns``'s interface)."""

    @property
    def names(self) -> list:
        return list(self)


def synthetic(rows: int, columns: int, categorical: float, seed: int = 0):
    """A binary task on ``rows`` x ``columns``: numbers, and that share of the columns
    categorical (5 categories); the label depends on a few of each."""
    rng = np.random.default_rng(seed)
    n_cat = int(columns * categorical)
    numbers = rng.normal(size=(rows, columns - n_cat))
    codes = rng.integers(0, 5, size=(rows, n_cat))
    X = pd.DataFrame(numbers).add_prefix("x")
    for j in range(n_cat):
        X[f"c{j}"] = pd.Categorical.from_codes(codes[:, j], list("abcde"))
    signal = numbers[:, :5].sum(axis=1) + (codes[:, :3] == 0).sum(axis=1)
    y = (signal + rng.normal(size=rows) > np.median(signal)).astype(int)
    return make_dataset(X, y)


def run(arm: str, family: str, dataset) -> tuple[float, list[float]]:
    spaces._Columns = _Names if arm == "names" else SHIPPED
    try:
        params = spaces.default_params(family, dataset.task)
        began = time.perf_counter()
        result = evaluate(family, params, dataset, cv=5, seed=0)
        seconds = time.perf_counter() - began
    finally:
        spaces._Columns = SHIPPED
    if not result.ok:
        raise RuntimeError(f"{family} failed: {result.error}")
    return seconds, result.fold_scores[result.metric]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--name", default="wide_data")
    args = parser.parse_args(argv)
    began = time.monotonic()
    records, rows = [], []
    for n_rows, n_columns, categorical in SHAPES:
        dataset = synthetic(n_rows, n_columns, categorical)
        for family in FAMILIES:
            seconds: dict[str, list[float]] = {arm: [] for arm in ARMS}
            scores = {}
            for repeat in range(args.repeats):
                for arm in ARMS if repeat % 2 == 0 else ARMS[::-1]:
                    spent, scores[arm] = run(arm, family, dataset)
                    seconds[arm].append(spent)
                    records.append({"rows": n_rows, "columns": n_columns,
                                    "categorical": categorical, "family": family,
                                    "arm": arm, "repeat": repeat, "seconds": spent})
            if scores["names"] != scores["positions"]:
                raise AssertionError(f"{family} on {n_rows} x {n_columns}: the fold scores "
                                     f"differ: {scores}")
            medians = {arm: float(np.median(seconds[arm])) for arm in ARMS}
            rows.append({"rows": n_rows, "columns": n_columns, "categorical": categorical,
                         "family": family, **medians,
                         "ratio": medians["names"] / medians["positions"]})
            print(f"{n_rows} x {n_columns} ({categorical:.0%} categorical) {family}: "
                  f"names {medians['names']:.2f} s, "
                  f"positions {medians['positions']:.2f} s", flush=True)
    elapsed = time.monotonic() - began
    command = "python benchmarks/wide_data.py" + ("" if args.name == "wide_data"
                                                  else f" --name {args.name}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(
        {"command": command, "repeats": args.repeats, "seconds": elapsed,
         "machine": platform.platform(), "summary": rows, "records": records}, indent=1))
    lines = ["# Wide data: a ColumnTransformer's columns by position", "",
             f"Reproduce with `{command}`; {args.repeats} runs per shape, family and arm, "
             f"one process ({elapsed:.0f} s).", "",
             "Seconds (median) of a 5-fold cross-validation of the family's defaults, "
             "with the columns given by name (before) and by position (shipped); the fold "
             "scores of the two are equal:", "",
             "| rows x columns | categorical | family | names | positions | ratio |",
             "|---|---:|---|---:|---:|---:|"]
    lines += [f"| {r['rows']} x {r['columns']} | {r['categorical']:.0%} | {r['family']} | "
              f"{r['names']:.2f} | {r['positions']:.2f} | {r['ratio']:.2f} |" for r in rows]
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
