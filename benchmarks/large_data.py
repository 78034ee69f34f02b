"""A million rows under a short time budget: the search on a subsample (``search_rows``).

On data this large a single trial of LightGBM's defaults takes a good part of a minute's
budget, so a search over all rows runs one or two trials. With ``search_rows="auto"``
(the default) the trials use a stratified subsample sized to the budget and the
configurations chosen are refit on all rows. This benchmark fits, on synthetic data of
``--rows`` training rows and a test set of a fifth of that:

- ``automl_meta``: ``AutoMetaClassifier`` / ``AutoMetaRegressor`` as shipped;
- ``automl_meta, all rows``: the same with ``search_rows=None``;
- ``lightgbm_default``: LightGBM's defaults, through the same pipeline as our trials;
- ``flaml``: ``flaml.AutoML`` with the same budget (its own sampling of rows), when
  FLAML is installed.

Classification: ``make_classification`` (20 numeric features, 8 informative) and a
categorical column of 7 levels; test ROC AUC. Regression: Friedman's function #1
(``make_friedman1``, 20 features, 5 of them used, noise 1) and the same categorical
column; test RMSE. Every method has one core (``n_jobs=1``).

    python benchmarks/large_data.py

writes benchmarks/results/large_data.{json,md}. Each fit is appended to a JSONL file in
the temporary folder named by the settings (``--cache``), so that an interrupted run
goes on where it stopped; ``--fresh`` starts over.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import make_classification, make_friedman1
from sklearn.metrics import mean_squared_error, roc_auc_score

sys.path.insert(0, str(Path(__file__).parent))
from end_to_end import search_version  # noqa: E402

from automl_meta.estimators import AutoMetaClassifier, AutoMetaRegressor  # noqa: E402

METHODS = ("automl_meta", "automl_meta, all rows", "lightgbm_default", "flaml")


def make_data(task: str, rows: int, seed: int):
    """(X_train, y_train, X_test, y_test): ``rows`` training rows, a fifth as many to test."""
    n = rows + rows // 5
    if task == "classification":
        X, y = make_classification(n_samples=n, n_features=20, n_informative=8,
                                   random_state=seed)
    else:
        X, y = make_friedman1(n_samples=n, n_features=20, noise=1.0, random_state=seed)
    X = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    X["level"] = pd.Categorical(np.random.default_rng(seed).choice(list("abcdefg"), n))
    return X.iloc[:rows], y[:rows], X.iloc[rows:], y[rows:]


def fit(method: str, task: str, X, y, budget: float, seed: int):
    """The fitted model and what to record of its search."""
    classification = task == "classification"
    if method.startswith("automl_meta"):
        cls = AutoMetaClassifier if classification else AutoMetaRegressor
        model = cls(time_budget=budget, random_state=seed,
                    search_rows=None if method.endswith("all rows") else "auto").fit(X, y)
        return model, {"trials": len(model.leaderboard_), "search_rows": model.search_rows_,
                       "best_family": model.best_params_["family"]}
    if method == "lightgbm_default":
        from automl_meta.data import Schema
        from automl_meta.spaces import build_pipeline, default_params

        model = build_pipeline("lightgbm", default_params("lightgbm", task),
                               Schema.from_frame(X), task, seed=seed, n_jobs=1)
        return model.fit(X, y), {}
    from flaml import AutoML

    model = AutoML()
    model.fit(X, y, task=task, time_budget=budget, metric="roc_auc" if classification
              else "rmse", n_jobs=1, seed=seed, verbose=0)
    return model, {"best_family": model.best_estimator}


def test_score(model, task: str, X, y) -> float:
    """ROC AUC of the positive class's probability, or RMSE."""
    if task == "classification":
        return float(roc_auc_score(y, np.asarray(model.predict_proba(X))[:, 1]))
    return float(np.sqrt(mean_squared_error(y, model.predict(X))))


def report(records: list[dict], settings: dict) -> str:
    frame = pd.DataFrame(records)
    lines = [
        "# A million rows under a short time budget", "",
        "Reproduce with (each run adds the fits it does not find in the cache):", "", "```",
        *[f"python benchmarks/large_data.py --rows {settings['rows']} --budget "
          f"{settings['budget']:g} --seeds {seeds} --methods "
          + " ".join(f'"{m}"' if " " in m else m for m in methods)
          for seeds, methods in settings["runs"]], "```", "",
        f"{settings['rows']:,} training rows of 21 features (20 numeric, one categorical of "
        f"7 levels), a test set of {settings['rows'] // 5:,}; budget {settings['budget']:g} s, "
        f"one core per fit; seeds {settings['seeds']} (the data, the split and the methods' "
        f"seed). Machine: {platform.machine()}, load average when this was written "
        f"{settings['load']:.1f}. Medians over seeds; in brackets each seed.", ""]
    for task, unit in (("classification", "test ROC AUC (higher is better)"),
                       ("regression", "test RMSE (lower is better)")):
        part = frame[frame["task"] == task]
        if part.empty:
            continue
        lines += [f"## {task.capitalize()}: {unit}", "",
                  "| method | score | fit seconds | trials | rows the trials used |",
                  "|---|---|---|---|---|"]
        for method in METHODS:
            runs = part[part["method"] == method].sort_values("seed")
            if runs.empty:
                continue

            def cell(column, fmt, runs=runs):
                values = runs[column].dropna() if column in runs else pd.Series(dtype=float)
                if values.empty:
                    return "-"
                each = ", ".join(format(v, fmt) for v in values)
                return f"{format(values.median(), fmt)} ({each})"

            lines.append(f"| {method} | {cell('score', '.5f')} | {cell('fit_seconds', '.1f')} "
                         f"| {cell('trials', '.0f')} | {cell('search_rows', ',.0f')} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="training rows")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per fit")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--tasks", nargs="+", default=["classification", "regression"],
                        choices=("classification", "regression"))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir())
                                               / "automl_meta-large-data-benchmark"))
    parser.add_argument("--fresh", action="store_true", help="ignore the cached fits")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--name", default="large_data")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    key = hashlib.sha256(json.dumps([args.rows, args.budget, search_version()])
                         .encode()).hexdigest()[:16]
    cache = Path(args.cache) / f"fits-{key}.jsonl"
    cache.parent.mkdir(parents=True, exist_ok=True)
    records = ([] if args.fresh or not cache.is_file()
               else [json.loads(line) for line in cache.read_text().splitlines()])
    done = {(r["task"], r["method"], r["seed"]) for r in records}
    for task in args.tasks:
        for seed in range(args.seeds):
            data = None
            for method in args.methods:
                if (task, method, seed) in done:
                    continue
                if method == "flaml":
                    try:
                        import flaml.automl.automl  # noqa: F401
                    except ImportError:
                        print("flaml is not installed: skipped")
                        continue
                data = data or make_data(task, args.rows, seed)
                X, y, X_test, y_test = data
                start = time.perf_counter()
                model, details = fit(method, task, X, y, args.budget, seed)
                record = {"task": task, "method": method, "seed": seed,
                          "fit_seconds": time.perf_counter() - start,
                          "score": test_score(model, task, X_test, y_test), **details}
                print(f"{task} seed {seed} {method}: {record['score']:.5f} "
                      f"({record['fit_seconds']:.1f} s)", flush=True)
                records.append(record)
                with cache.open("a") as f:
                    f.write(json.dumps(record) + "\n")
    seeds = {m: sorted({r["seed"] for r in records if r["method"] == m}) for m in METHODS}
    runs: dict[int, list[str]] = {}  # the methods of the records, by their number of seeds
    for method in METHODS:
        if seeds[method]:
            runs.setdefault(len(seeds[method]), []).append(method)
    settings = {"rows": args.rows, "budget": args.budget,
                "seeds": sorted({r["seed"] for r in records}),
                "runs": sorted(runs.items()), "load": os.getloadavg()[0]}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(
        {"settings": settings, "records": records}, indent=1))
    (out / f"{args.name}.md").write_text(report(records, settings))
    print(f"wrote {out / args.name}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
