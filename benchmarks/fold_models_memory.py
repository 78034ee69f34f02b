"""Peak memory of a cross-validation that may hand back its fold models.

Under a time budget every trial on all rows is told the seconds it has
(``evaluate(..., return_models=seconds)``): when its refit could not end in time, its
fitted fold pipelines come back and are delivered averaged instead. A trial far from
that point holds one fold's pipeline at a time (``KEEP_MODELS_SHARE``); one near it, all
of them. This benchmark measures the peak resident memory of ``evaluate`` with 5-fold CV
of a family's defaults on synthetic classification data, each run in a fresh Python
process (so the peak is that run's), in three arms:

- ``none``: ``return_models=False`` (what a search without a time budget asks);
- ``far``: ``return_models=3600`` (an hour left: the usual trial under a budget);
- ``kept``: ``return_models=1e-9`` (a trial whose refit could not end in time).

Reported: the median over ``--repeats`` runs of each (shape, family, arm), the peak over
the process's memory once the data is made (megabytes), and the ratio to ``none``.

    python benchmarks/fold_models_memory.py

writes benchmarks/results/fold_models_memory.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

#: (rows, features, family) measured.
CASES = ((20_000, 20, "random_forest"), (20_000, 20, "extra_trees"),
         (20_000, 20, "lightgbm"))
ARMS = {"none": False, "far": 3600.0, "kept": 1e-9}


def measure(rows: int, features: int, family: str, arm: str) -> dict:
    """In this process: peak resident megabytes of one ``evaluate`` over those of the
    process once its data is made, and how many fold models came back."""
    import resource

    import pandas as pd

    from automl_meta.data import make_dataset
    from automl_meta.evaluation import evaluate
    from automl_meta.spaces import default_params

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(rows, features))).add_prefix("x")
    y = (X["x0"] + rng.normal(size=rows) > 0).astype(int)
    dataset = make_dataset(X, y)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = evaluate(family, default_params(family, "classification"), dataset, cv=5,
                      return_models=ARMS[arm])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"status": result.status, "models": len(result.models or ()),
            "peak_mb": peak - before}


def run_child(rows: int, features: int, family: str, arm: str) -> dict:
    """:func:`measure` in a fresh Python process."""
    done = subprocess.run([sys.executable, __file__, "--child", str(rows), str(features),
                           family, arm], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--name", default="fold_models_memory")
    parser.add_argument("--child", nargs=4, metavar=("ROWS", "FEATURES", "FAMILY", "ARM"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        rows, features, family, arm = args.child
        print(json.dumps(measure(int(rows), int(features), family, arm)))
        return
    began = time.monotonic()
    records = []
    for rows, features, family in CASES:
        for repeat in range(args.repeats):
            for arm in ARMS:
                record = run_child(rows, features, family, arm)
                records.append({"rows": rows, "features": features, "family": family,
                                "arm": arm, "repeat": repeat, **record})
                print(f"{rows} x {features} {family} {arm} #{repeat}: "
                      f"{record['peak_mb']:.0f} MB, {record['models']} models", flush=True)
    summary = []
    for rows, features, family in CASES:
        medians = {arm: float(np.median([r["peak_mb"] for r in records
                                         if (r["rows"], r["family"], r["arm"])
                                         == (rows, family, arm)])) for arm in ARMS}
        models = {arm: next(r["models"] for r in records
                            if (r["rows"], r["family"], r["arm"]) == (rows, family, arm))
                  for arm in ARMS}
        summary.append({"rows": rows, "features": features, "family": family,
                        **{f"{arm}_mb": medians[arm] for arm in ARMS},
                        **{f"{arm}_models": models[arm] for arm in ARMS},
                        **{f"{arm}_ratio": medians[arm] / medians["none"]
                           if medians["none"] > 0 else float("nan")
                           for arm in ("far", "kept")}})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/fold_models_memory.py" + (
        "" if args.name == "fold_models_memory" else f" --name {args.name}")
    seconds = time.monotonic() - began
    (out / f"{args.name}.json").write_text(json.dumps(
        {"command": command, "repeats": args.repeats, "seconds": seconds,
         "machine": platform.platform(), "summary": summary, "records": records}, indent=1))
    lines = ["# Peak memory of a CV that may hand back its fold models", "",
             f"Reproduce with `{command}`; {args.repeats} runs per case and arm, each in a "
             f"fresh process ({seconds:.0f} s). 5-fold CV of the family's defaults on "
             f"synthetic classification data; megabytes over the process's once its data "
             f"is made (median), and the fold models that came back.", "",
             "| rows | features | family | none (MB) | far: 3,600 s (MB) | kept: 1e-9 s (MB) "
             "| far / none | kept / none | models back (none, far, kept) |",
             "|---:|---:|---|---:|---:|---:|---:|---:|---|"]
    lines += [f"| {r['rows']:,} | {r['features']} | {r['family']} | {r['none_mb']:.0f} | "
              f"{r['far_mb']:.0f} | {r['kept_mb']:.0f} | {r['far_ratio']:.2f} | "
              f"{r['kept_ratio']:.2f} | {r['none_models']}, {r['far_models']}, "
              f"{r['kept_models']} |" for r in summary]
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
