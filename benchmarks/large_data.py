"""Large or wide data under a short time budget: a million rows, where the search runs
on a subsample (``search_rows``), or thousands of features, where one fold of a tree
model can take a good part of the budget.

On data this large a single trial of LightGBM's defaults takes a good part of a minute's
budget, so a search over all rows runs one or two trials. With ``search_rows="auto"``
(the default) the trials use a stratified subsample sized to the budget and the
configurations chosen are refit on all rows. This benchmark fits, on synthetic data of
``--rows`` training rows and a test set of a fifth of that:

- ``automl_meta``: ``AutoMetaClassifier`` / ``AutoMetaRegressor`` as shipped;
- ``automl_meta, all rows``: the same with ``search_rows=None``;
- ``optuna_tpe``: the same estimators without meta-learning (``knowledge_base=False``);
- ``lightgbm_default``: LightGBM's defaults, through the same pipeline as our trials;
- ``flaml``: ``flaml.AutoML`` with the same budget (its own sampling of rows), when
  FLAML is installed.

Classification: ``make_classification`` (``--features`` numeric features, 20 by default,
``--informative`` of them informative, 8 by default) and a categorical column of 7
levels; test ROC AUC. Regression: Friedman's function #1 (``make_friedman1``, the same
numeric features, 5 of them used, noise 1) and the same categorical column; test RMSE.
Every method has one core (``n_jobs=1``).

    python benchmarks/large_data.py

writes benchmarks/results/large_data.{json,md};

    python benchmarks/large_data.py --rows 2000 --features 2000 --informative 40 \
        --methods automl_meta optuna_tpe lightgbm_default flaml --name wide_data

the same on 2,000 rows of 2,000 features (results/wide_data.{json,md}). Each fit is
appended to a JSONL file in the temporary folder named by the settings (``--cache``), so
that an interrupted run goes on where it stopped; ``--fresh`` starts over.
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
from end_to_end import data_version, features_version, search_version  # noqa: E402
from metalearner import code_version  # noqa: E402

from automl_meta.estimators import (  # noqa: E402
    AutoMetaClassifier,
    AutoMetaRegressor,
    SearchFailedError,
)

METHODS = ("automl_meta", "automl_meta, all rows", "optuna_tpe", "lightgbm_default", "flaml")


def make_data(task: str, rows: int, seed: int, features: int = 20, informative: int = 8):
    """(X_train, y_train, X_test, y_test): ``rows`` training rows, a fifth as many to test."""
    n = rows + rows // 5
    if task == "classification":
        X, y = make_classification(n_samples=n, n_features=features,
                                   n_informative=informative, random_state=seed)
    else:
        X, y = make_friedman1(n_samples=n, n_features=features, noise=1.0, random_state=seed)
    X = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    X["level"] = pd.Categorical(np.random.default_rng(seed).choice(list("abcdefg"), n))
    return X.iloc[:rows], y[:rows], X.iloc[rows:], y[rows:]


def fit(method: str, task: str, X, y, budget: float, seed: int):
    """The fitted model and what to record of its search; ``(None, {"error": ...})`` for a
    search whose every trial failed."""
    classification = task == "classification"
    if method.startswith("automl_meta") or method == "optuna_tpe":
        cls = AutoMetaClassifier if classification else AutoMetaRegressor
        model = cls(time_budget=budget, random_state=seed,
                    knowledge_base=False if method == "optuna_tpe" else None,
                    search_rows=None if method.endswith("all rows") else "auto")
        try:
            model.fit(X, y)
        except SearchFailedError as exc:
            return None, {"error": str(exc)}
        board = model.leaderboard_
        return model, {"trials": len(board), "search_rows": model.search_rows_,
                       "best_family": model.best_params_["family"],
                       "trials_ok": int((board["status"] == "ok").sum()),
                       "families_ok": sorted(set(board.loc[board["status"] == "ok",
                                                           "family"])),
                       "not_refit": int((~model.ensemble_["refit"]).sum())}
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
    features, name = settings["features"], settings["name"]
    shape = (f"--rows {settings['rows']} --features {features} --informative "
             f"{settings['informative']} " if (features, settings["informative"]) != (20, 8)
             else f"--rows {settings['rows']} ")
    title = (f"{settings['rows']:,} rows" if features == 20 else
             f"{settings['rows']:,} rows of {features:,} features")
    lines = [
        f"# {title} under a short time budget", "",
        "Reproduce with (each run adds the fits it does not find in the cache):", "", "```",
        *[f"python benchmarks/large_data.py {shape}--budget {settings['budget']:g} --seeds "
          f"{seeds} --methods " + " ".join(f'"{m}"' if " " in m else m for m in methods)
          + ("" if name == "large_data" else f" --name {name}")
          for seeds, methods in settings["runs"]], "```", "",
        f"{settings['rows']:,} training rows of {features + 1:,} features ({features:,} "
        f"numeric, one categorical of 7 levels), a test set of {settings['rows'] // 5:,}; "
        f"budget {settings['budget']:g} s, one core per fit; seeds {settings['seeds']} (the "
        f"data, the split and the methods' seed). Machine: {platform.machine()}, load "
        f"average when this was written {settings['load']:.1f}. Medians over seeds; in "
        f"brackets each seed. A search whose every trial failed has no score (its error "
        f"is in the JSON file).", ""]
    for task, unit in (("classification", "test ROC AUC (higher is better)"),
                       ("regression", "test RMSE (lower is better)")):
        part = frame[frame["task"] == task]
        if part.empty:
            continue
        lines += [f"## {task.capitalize()}: {unit}", "",
                  "| method | score | fit seconds | trials (with a score) | rows the trials "
                  "used | families with a score, each seed | delivered trials not refit "
                  "(their fold models averaged), each seed |",
                  "|---|---|---|---|---|---|---|"]
        for method in METHODS:
            runs = part[part["method"] == method].sort_values("seed")
            if runs.empty:
                continue

            def cell(column, fmt, runs=runs):
                if column not in runs:
                    return "-"
                each = ", ".join("-" if pd.isna(v) else format(v, fmt) for v in runs[column])
                values = runs[column].dropna()
                return "-" if values.empty else f"{format(values.median(), fmt)} ({each})"

            trials = cell("trials", ".0f")
            if "trials_ok" in runs and runs["trials_ok"].notna().any():
                scored = ", ".join("-" if pd.isna(v) else f"{v:.0f}" for v in runs["trials_ok"])
                trials = f"{trials}; with a score {scored}"
            families = ("-" if "families_ok" not in runs else "; ".join(
                ", ".join(v) if isinstance(v, list) else "-" for v in runs["families_ok"]))
            not_refit = ("-" if "not_refit" not in runs else ", ".join(
                "-" if pd.isna(v) else f"{v:.0f}" for v in runs["not_refit"]))
            lines.append(f"| {method} | {cell('score', '.5f')} | {cell('fit_seconds', '.1f')} "
                         f"| {trials} | {cell('search_rows', ',.0f')} | {families} "
                         f"| {not_refit} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="training rows")
    parser.add_argument("--features", type=int, default=20, help="numeric features")
    parser.add_argument("--informative", type=int, default=8,
                        help="informative features (classification)")
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
    shape = [] if args.features == 20 and args.informative == 8 else [args.features,
                                                                       args.informative]
    # Keyed on all the code our fits run: the search, the data, the meta-features and the
    # meta-learner with what drives it (the sampler, the recommendation).
    code = [search_version(), data_version(), features_version(), code_version()]
    key = hashlib.sha256(json.dumps([args.rows, args.budget, *code, *shape])
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
                data = data or make_data(task, args.rows, seed, args.features,
                                         args.informative)
                X, y, X_test, y_test = data
                start = time.perf_counter()
                model, details = fit(method, task, X, y, args.budget, seed)
                record = {"task": task, "method": method, "seed": seed,
                          "fit_seconds": time.perf_counter() - start,
                          "score": (None if model is None
                                    else test_score(model, task, X_test, y_test)), **details}
                print(f"{task} seed {seed} {method}: "
                      f"{details.get('error') or format(record['score'], '.5f')} "
                      f"({record['fit_seconds']:.1f} s)", flush=True)
                records.append(record)
                with cache.open("a") as f:
                    f.write(json.dumps(record) + "\n")
    seeds = {m: sorted({r["seed"] for r in records if r["method"] == m}) for m in METHODS}
    runs: dict[int, list[str]] = {}  # the methods of the records, by their number of seeds
    for method in METHODS:
        if seeds[method]:
            runs.setdefault(len(seeds[method]), []).append(method)
    settings = {"rows": args.rows, "features": args.features,
                "informative": args.informative, "name": args.name, "budget": args.budget,
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
