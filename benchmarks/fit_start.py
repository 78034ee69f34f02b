"""The start of a time-budgeted fit: how long until the first trial has a result.

Under a time budget every trial runs in a worker process (for its time limit), which
takes a second or more to start and import the model stack. ``fit`` starts it in the
background (``automl_meta.evaluation.prestart_worker``) before it computes the
meta-features and loads the knowledge base and the meta-learner, so that the first trial
does not wait for it. This benchmark measures the seconds from calling ``fit`` to the
end of the first trial, with and without that prestart (``prestart_worker`` replaced by a
no-op), for ``AutoMetaClassifier`` / ``AutoMetaRegressor`` with the shipped knowledge
base (``automl_meta``) and with ``knowledge_base=False`` (``optuna_tpe``). Every fit has
``time_budget=30``, ``n_trials=1``, ``ensemble_size=1`` and ``random_state=0``, and
starts without a worker (the previous fit's is closed); the arms alternate in one
process. Reported: the median over ``--repeats`` fits per dataset, method and arm, and
the ratio of the medians without and with the prestart.

    python benchmarks/fit_start.py

writes benchmarks/results/fit_start.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np

import automl_meta.estimators as estimators
from automl_meta.evaluation import _isolate
from automl_meta.metadataset.sources import from_manifest

DATASETS = ("cleve", "596_fri_c2_250_5", "magic")
METHODS = ("automl_meta", "optuna_tpe")
ARMS = ("prestart", "no prestart")
MANIFEST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "manifest.csv"


def first_trial_end(dataset, method: str, arm: str) -> dict:
    """Seconds from calling ``fit`` to the first trial's start and end."""
    cls = (estimators.AutoMetaClassifier if dataset.task == "classification"
           else estimators.AutoMetaRegressor)
    _isolate._worker(None).close()  # no worker left from the previous fit
    shipped = estimators.prestart_worker
    if arm == "no prestart":
        estimators.prestart_worker = lambda: None
    try:
        model = cls(time_budget=30, n_trials=1, ensemble_size=1, random_state=0,
                    knowledge_base=None if method == "automl_meta" else False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            called = time.time()
            model.fit(dataset.X, dataset.y)
    finally:
        estimators.prestart_worker = shipped
    trial = model.study_.trials[0]
    return {"start": trial.datetime_start.timestamp() - called,
            "end": trial.datetime_complete.timestamp() - called}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", default=str(MANIFEST))
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--name", default="fit_start")
    args = parser.parse_args(argv)
    specs = {s.name: s for s in from_manifest(args.manifest)}
    unknown = [name for name in args.datasets if name not in specs]
    if unknown:
        parser.error(f"not in the manifest: {', '.join(unknown)}")
    began = time.monotonic()
    records = []
    for name in args.datasets:
        dataset = specs[name].load()
        for repeat in range(args.repeats):
            for method in METHODS:
                for arm in ARMS if repeat % 2 == 0 else ARMS[::-1]:
                    seconds = first_trial_end(dataset, method, arm)
                    records.append({"dataset": name, "rows": dataset.n_rows,
                                    "features": dataset.n_features, "method": method,
                                    "arm": arm, "repeat": repeat, **seconds})
                    print(f"{name} {method} {arm} #{repeat}: first trial ends at "
                          f"{seconds['end']:.2f} s", flush=True)
    _isolate._worker(None).close()
    rows = []
    for name in args.datasets:
        for method in METHODS:
            medians = {arm: float(np.median([r["end"] for r in records if r["dataset"] == name
                                             and r["method"] == method and r["arm"] == arm]))
                       for arm in ARMS}
            rows.append({"dataset": name, "method": method, **medians,
                         "ratio": medians["no prestart"] / medians["prestart"]})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/fit_start.py" + ("" if args.name == "fit_start"
                                                  else f" --name {args.name}")
    (out / f"{args.name}.json").write_text(json.dumps(
        {"command": command, "repeats": args.repeats, "seconds": time.monotonic() - began,
         "machine": platform.platform(), "summary": rows, "records": records}, indent=1))
    lines = ["# The start of a time-budgeted fit", "", f"Reproduce with `{command}`; "
             f"{args.repeats} fits per dataset, method and arm, one process "
             f"({time.monotonic() - began:.0f} s).", "",
             "Seconds from calling `fit` to the end of the first trial (median):", "",
             "| dataset | method | with prestart | without | ratio |", "|---|---|---:|---:|---:|"]
    lines += [f"| {r['dataset']} | {r['method']} | {r['prestart']:.2f} | "
              f"{r['no prestart']:.2f} | {r['ratio']:.2f} |" for r in rows]
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
