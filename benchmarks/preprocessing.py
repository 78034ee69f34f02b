"""Preprocessing on wide data and on many category columns: the shipped pipelines
against scikit-learn's column selection by name and its encoders.

The pipelines of the scaled families (k-NN, linear, SVM, MLP) and of the ordinal ones
(the forests) preprocess with a ColumnTransformer. Before stop 44 it was given column
names, which scikit-learn looks up one by one in the frame's list of columns (quadratic
in the columns: seconds on 10,000), and it encoded category columns with scikit-learn's
OneHotEncoder and OrdinalEncoder, which turn every value into a Python object. The
shipped pipelines give column positions (``automl_meta.spaces._Columns``) and encode
from the columns' category codes (``_OneHot``, ``_Ordinal``), with the same output.

On synthetic data of several shapes this benchmark times, both ways in the same process
(``before``: names and scikit-learn's encoders, patched in; ``shipped``), alternating:

- ``preprocess``: the preprocessing of k-NN's (scaled) and the random forest's
  (ordinal) pipelines over 5 folds, fit on the training rows and applied to the
  validation rows;
- ``cv``: a 5-fold cross-validation of the defaults of k-NN and the linear model, whose
  fits are cheap beside their preprocessing (``automl_meta.evaluation.evaluate``, in
  this process).

Reported per shape: the median over ``--repeats`` of each time, and the ratio (before
over shipped). The two arms' outputs must be equal (the preprocessed matrices and the
fold scores); the benchmark fails otherwise.

    python benchmarks/preprocessing.py

writes benchmarks/results/preprocessing.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

import automl_meta.spaces as spaces
from automl_meta.data import make_dataset
from automl_meta.evaluation import evaluate, make_folds

#: (rows, numeric columns, category columns of 8 categories)
SHAPES = ((150, 10_000, 0), (750, 2_000, 0), (150, 9_000, 1_000), (10_000, 0, 200),
          (50_000, 2, 40))
ARMS = ("before", "shipped")
#: What is timed: a pipeline's preprocessing over the folds, or a family's whole CV.
TASKS = (("preprocess", "knn"), ("preprocess", "random_forest"), ("cv", "knn"),
         ("cv", "linear"))


class _Names(list):
    """The lists of names the pipelines gave before (``_Columns``'s interface)."""

    @property
    def names(self) -> list:
        return list(self)


BEFORE = {
    "_Columns": _Names,
    "_OneHot": lambda: OneHotEncoder(handle_unknown="ignore", sparse_output=False),
    "_Ordinal": lambda: OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                       encoded_missing_value=-1),
}
SHIPPED = {name: getattr(spaces, name) for name in BEFORE}


def synthetic(rows: int, numeric: int, categorical: int, seed: int = 0):
    """A binary task: ``numeric`` normal columns and ``categorical`` columns of 8
    categories (one value in 20 missing); the label depends on a few of each."""
    rng = np.random.default_rng(seed)
    numbers = rng.normal(size=(rows, numeric))
    codes = rng.integers(0, 8, size=(rows, categorical))
    codes[rng.random(size=codes.shape) < 0.05] = -1  # missing
    X = pd.DataFrame(numbers).add_prefix("x")
    categories = [f"v{i}" for i in range(8)]
    for j in range(categorical):
        X[f"c{j}"] = pd.Categorical.from_codes(codes[:, j], categories)
    signal = numbers[:, :5].sum(axis=1) + (codes[:, :3] == 0).sum(axis=1)
    y = (signal + rng.normal(size=rows) > np.median(signal)).astype(int)
    return make_dataset(X, y)


def run(arm: str, what: str, family: str, dataset, folds):
    """Seconds, and the output to compare between arms."""
    for name, value in (BEFORE if arm == "before" else SHIPPED).items():
        setattr(spaces, name, value)
    try:
        params = spaces.default_params(family, dataset.task)
        began = time.perf_counter()
        if what == "cv":
            result = evaluate(family, params, dataset, cv=folds, seed=0)
            if not result.ok:
                raise RuntimeError(f"{family} failed: {result.error}")
            output = result.fold_scores[result.metric]
        else:
            output = []
            for train, test in folds:
                pipe = spaces.build_pipeline(family, params, dataset.schema, dataset.task)
                pipe[0].fit(dataset.X.iloc[train], dataset.y.iloc[train])
                output.append(pipe[0].transform(dataset.X.iloc[test]))
        return time.perf_counter() - began, output
    finally:
        for name, value in SHIPPED.items():
            setattr(spaces, name, value)


def same(a, b) -> bool:
    if isinstance(a[0], np.ndarray):
        return all(np.array_equal(x, y) and x.dtype == y.dtype for x, y in zip(a, b, strict=True))
    return a == b


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--name", default="preprocessing")
    args = parser.parse_args(argv)
    began = time.monotonic()
    records, rows = [], []
    for n_rows, numeric, categorical in SHAPES:
        dataset = synthetic(n_rows, numeric, categorical)
        folds = make_folds(dataset, 5, seed=0)
        for what, family in TASKS:
            seconds, outputs = time_arms(ARMS, args.repeats, run, what, family, dataset,
                                         folds)
            records += arm_records({"rows": n_rows, "numeric": numeric,
                                    "categorical": categorical, "what": what,
                                    "family": family}, seconds)
            if not same(outputs["before"], outputs["shipped"]):
                raise AssertionError(f"{what} {family} on {n_rows} rows, {numeric} + "
                                     f"{categorical} columns: the outputs differ")
            medians = {arm: float(np.median(seconds[arm])) for arm in ARMS}
            rows.append({"rows": n_rows, "numeric": numeric, "categorical": categorical,
                         "what": what, "family": family, **medians,
                         "ratio": medians["before"] / medians["shipped"]})
            print(f"{n_rows} rows, {numeric} + {categorical} columns, {what} {family}: "
                  f"before {medians['before']:.2f} s, shipped {medians['shipped']:.2f} s",
                  flush=True)
    lines = ["Seconds (median) of a pipeline's preprocessing over 5 folds (fit on the "
             "training rows, applied to the validation rows) and of a 5-fold "
             "cross-validation of the family's defaults; before: columns by name and "
             "scikit-learn's OneHotEncoder and OrdinalEncoder; shipped: columns by "
             "position, encoders from the category codes. The outputs of the two are "
             "equal.", "",
             "| rows | numeric columns | category columns | measure | family | before "
             "| shipped | ratio |",
             "|---:|---:|---:|---|---|---:|---:|---:|"]
    lines += [f"| {r['rows']} | {r['numeric']} | {r['categorical']} | {r['what']} | "
              f"{r['family']} | {r['before']:.2f} | {r['shipped']:.2f} | {r['ratio']:.2f} |"
              for r in rows]
    write_results(args, "preprocessing",
                  "Preprocessing: column positions and encoders from category codes",
                  time.monotonic() - began, rows, records, lines)


def time_arms(arms: Sequence[str], repeats: int, run: Callable[..., tuple[float, object]],
              *args) -> tuple[dict[str, list[float]], dict[str, object]]:
    """``run(arm, *args)`` (its seconds and its output) ``repeats`` times per arm,
    the arms in turn, their order rotated at each repeat (reversed, for two arms).
    Returns the seconds of each arm's runs, in order, and each arm's last output."""
    seconds: dict[str, list[float]] = {arm: [] for arm in arms}
    outputs = {}
    for repeat in range(repeats):
        turn = repeat % len(arms)
        for arm in (*arms[turn:], *arms[:turn]):
            spent, outputs[arm] = run(arm, *args)
            seconds[arm].append(spent)
    return seconds, outputs


def arm_records(shape: dict, seconds: dict[str, list[float]]) -> list[dict]:
    """One record per run of :func:`time_arms`: ``shape``, the arm, the repeat, seconds."""
    return [{**shape, "arm": arm, "repeat": repeat, "seconds": spent}
            for arm, runs in seconds.items() for repeat, spent in enumerate(runs)]


def write_results(args: argparse.Namespace, script: str, title: str, elapsed: float,
                  rows: list[dict], records: list[dict], body: list[str]) -> None:
    """Write ``args.out``/``args.name``.json (the command, the settings, ``rows`` and
    ``records``) and .md (``title``, the command, then ``body``), and print the latter.
    ``script`` is the benchmark's file name without ``.py``, also its default name."""
    command = f"python benchmarks/{script}.py" + ("" if args.name == script
                                                  else f" --name {args.name}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(
        {"command": command, "repeats": args.repeats, "seconds": elapsed,
         "machine": platform.platform(), "summary": rows, "records": records}, indent=1))
    lines = [f"# {title}", "",
             f"Reproduce with `{command}`; {args.repeats} runs per shape, measure and arm, "
             f"one process ({elapsed:.0f} s).", "", *body]
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
