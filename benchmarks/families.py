"""Every model family, with its defaults and 3 random configurations, on real datasets.

For each dataset (subsampled to at most 1,000 rows, stratified, fixed seed) and family:
3-fold CV of the default configuration and of 3 random configurations (fixed seed), each
under a time limit in a worker process, then one fit on all rows and a prediction. Any
uncaught exception is a crash and makes the script exit 1; failures of a model are
recorded statuses.

    python benchmarks/families.py --datasets ../shared/datasets/manifest.csv

writes benchmarks/results/families.json and benchmarks/results/families.md. Each finished
evaluation is also appended to a file in the temporary folder, named by the settings, so
that an interrupted run started again skips what it already did.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from end_to_end import evaluation_version  # noqa: E402

from automl_meta.data import load_manifest_entry, read_manifest  # noqa: E402
from automl_meta.evaluation import evaluate  # noqa: E402
from automl_meta.spaces import (  # noqa: E402
    FAMILIES,
    build_pipeline,
    default_params,
    from_unit,
    get_family,
)

# A fixed, varied selection: binary and multiclass, nominal attributes and missing values
# (raw ARFF), wide and long tables, and regression.
DATASETS = [
    "raw_colic", "raw_credit.g", "raw_soybean", "raw_hypothyroid", "raw_audiology",
    "raw_autos", "raw_cylinder.bands", "raw_vote", "raw_primary.tumor", "raw_mushroom",
    "raw_hepatitis", "raw_splice", "breast_cancer_wisconsin", "spambase", "vehicle",
    "optdigits", "GAMETES_Epistasis_2_Way_20atts_0.1H_EDM_1_1", "car_evaluation",
    "197_cpu_act", "503_wind", "529_pollen", "1027_ESL", "215_2dplanes", "560_bodyfat",
]


def run(manifest_path: str, n_random: int, cv: int, max_rows: int, time_limit: float,
        seed: int, cache: Path) -> list[dict]:
    manifest = read_manifest(manifest_path).set_index("name", drop=False)
    missing = [d for d in DATASETS if d not in manifest.index]
    if missing:
        raise SystemExit(f"datasets not in {manifest_path}: {missing}")
    rng = np.random.default_rng(seed)
    done = {}
    if cache.is_file():  # records of an interrupted run with the same settings
        for line in cache.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by the interruption
                continue
            done[(record["dataset"], record["family"], record["config"])] = record
    records = []
    for name in DATASETS:
        ds = load_manifest_entry(manifest.loc[name]).subsample(max_rows, seed=seed)
        for family in FAMILIES:
            n_params = len(get_family(family).params(ds.task))
            configs = [("default", default_params(family, ds.task))] + [
                (f"random{i}", from_unit(family, ds.task, rng.random(n_params)))
                for i in range(n_random)]
            for label, params in configs:  # every draw is made, so a resumed run matches
                if (name, family, label) in done:
                    records.append(done[(name, family, label)])
                    continue
                result = evaluate(family, params, ds, cv=cv, seed=seed, time_limit=time_limit)
                record = {"dataset": name, "task": ds.task, "rows": ds.n_rows,
                          "features": ds.n_features, "family": family, "config": label,
                          "metric": result.metric, "status": result.status,
                          "score": result.score(), "fit_seconds": sum(result.fit_seconds),
                          "error": result.error}
                if label == "default":
                    record.update(_fit_predict(family, params, ds, seed))
                records.append(record)
                with cache.open("a") as fh:
                    fh.write(json.dumps(record) + "\n")
                print(f"{name:28s} {family:24s} {label:8s} {result.status:8s} "
                      f"{result.score():9.4f}", flush=True)
    return records


def _fit_predict(family, params, ds, seed) -> dict:
    """Fit on all rows and predict them: the refit path a user's model takes."""
    try:
        model = build_pipeline(family, params, ds.schema, ds.task, seed=seed)
        start = time.perf_counter()
        model.fit(ds.X, ds.y)
        predictions = model.predict(ds.X)
        assert len(predictions) == ds.n_rows
        if ds.task == "classification":
            proba = model.predict_proba(ds.X)
            assert np.allclose(proba.sum(axis=1), 1.0)
        return {"refit": "ok", "refit_seconds": time.perf_counter() - start}
    except Exception as exc:  # noqa: BLE001 - recorded, reported below
        return {"refit": f"failed: {type(exc).__name__}: {exc}"}


def _markdown(records: list[dict], command: str) -> str:
    frame = pd.DataFrame(records)
    defaults = frame[frame["config"] == "default"]
    lines = [
        "# Model families on real datasets", "",
        f"Produced by `{command}`.", "",
        f"{frame['dataset'].nunique()} datasets x {frame['family'].nunique()} families x "
        f"{frame['config'].nunique()} configurations (default + random) = {len(frame)} "
        "cross-validated evaluations.", "",
        "## Status counts (all configurations)", "",
        "| family | ok | failed | timeout | memory | refit ok |", "|---|---|---|---|---|---|",
    ]
    for family, group in frame.groupby("family"):
        counts = group["status"].value_counts()
        refit = (defaults[defaults["family"] == family]["refit"] == "ok").sum()
        lines.append(f"| {family} | {counts.get('ok', 0)} | {counts.get('failed', 0)} | "
                     f"{counts.get('timeout', 0)} | {counts.get('memory', 0)} | "
                     f"{refit}/{len(defaults[defaults['family'] == family])} |")
    for title, column, fmt in (("Default configuration: CV score (ROC AUC for "
                                "classification, RMSE for regression)", "score", "{:.4f}"),
                               ("Default configuration: total fit seconds over the folds",
                                "fit_seconds", "{:.2f}")):
        table = defaults.pivot(index="dataset", columns="family", values=column)
        table = table.loc[[d for d in DATASETS if d in table.index]]
        lines += ["", f"## {title}", "", "| dataset | " + " | ".join(table.columns) + " |",
                  "|---" * (len(table.columns) + 1) + "|"]
        for dataset, row in table.iterrows():
            cells = ["" if pd.isna(v) else fmt.format(v) for v in row]
            lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    failures = frame[frame["status"] != "ok"]
    if len(failures):
        lines += ["", "## Failures", ""]
        lines += [f"- {r.dataset} / {r.family} / {r.config}: {r.status}: {r.error}"
                  for r in failures.itertuples()]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="../shared/datasets/manifest.csv")
    parser.add_argument("--random", type=int, default=3)
    parser.add_argument("--cv", type=int, default=3)
    parser.add_argument("--max-rows", type=int, default=1000)
    parser.add_argument("--time-limit", type=float, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    command = "python " + " ".join(sys.argv)
    settings = [args.datasets, args.random, args.cv, args.max_rows, args.time_limit, args.seed]
    # Evaluations made by other code are not reused.
    key = [*settings, evaluation_version()]
    cache = Path(tempfile.gettempdir()) / (
        "automl_meta-families-" + hashlib.sha256(json.dumps(key).encode()).hexdigest()[:12]
        + ".jsonl")
    try:
        records = run(*settings, cache)
    except Exception:  # noqa: BLE001 - a crash is what this benchmark exists to catch
        traceback.print_exc()
        return 1
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "families.json").write_text(json.dumps(
        {"command": command, "records": records}, indent=1, default=float) + "\n")
    (out / "families.md").write_text(_markdown(records, command))
    crashed = [r for r in records if r.get("refit", "ok") != "ok"]
    print(f"{len(records)} evaluations; {sum(r['status'] != 'ok' for r in records)} failed "
          f"statuses; {len(crashed)} refit failures")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
