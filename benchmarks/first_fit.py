"""The first fit in a fresh process: what the meta-learner's adaptation costs to start.

A user's first ``fit`` (``automl-meta fit`` runs one per process) adapts the meta-learner
to the trials it sees, a few gradient steps after each trial. The adaptation takes its
gradients with ``torch.autograd.grad``; it took them with ``torch.func.grad`` before, whose
first call imports ``torch._dynamo``. This benchmark runs each fit in a fresh Python
process, both ways: ``autograd`` (the shipped adaptation) and ``torch.func`` (the
previous one: the shipped function's MAML branch, patched in for that arm; the two give
the same adapted weights to the bit, see tests/test_metalearner.py). Every fit is
``AutoMetaClassifier`` / ``AutoMetaRegressor`` with the shipped knowledge base,
``time_budget=60`` (so trials run in the worker process, as under any budget),
``n_trials`` fixed (``--trials``), ``ensemble_size=1`` and ``random_state=0``. Torch is
imported before the fit in both arms, and the arms alternate. Reported per dataset and
arm, the median over ``--repeats`` processes of the seconds spent adapting during the
fit (all adaptations, and the first alone) and of the fit's seconds, and the ratio of
the medians (``torch.func`` over ``autograd``). The fit's seconds also vary with its
trials' times, by more than the adaptation changes them.

    python benchmarks/first_fit.py

writes benchmarks/results/first_fit.{json,md}.
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

DATASETS = ("cleve", "596_fri_c2_250_5")
ARMS = ("autograd", "torch.func")
MANIFEST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "manifest.csv"


def child(arm: str, name: str, trials: int, manifest: str) -> None:
    """One fit in this (fresh) process; prints its timings as JSON."""
    import warnings

    import automl_meta.estimators as estimators
    from automl_meta.metadataset.sources import from_manifest
    from automl_meta.metalearner import _training  # imports torch, before the clock

    shipped = _training.adapt

    def functorch(params, *args, **kwargs):
        # The adaptation before 8c94adb: on weights that need a gradient, the shipped
        # function takes its MAML branch, torch.func.grad.
        adapted = shipped({k: v.detach().requires_grad_(True) for k, v in params.items()},
                          *args, **kwargs)
        return {k: v.detach() for k, v in adapted.items()}

    adapt = functorch if arm == "torch.func" else shipped
    spent: list[float] = []

    def timed(*args, **kwargs):
        began = time.perf_counter()
        try:
            return adapt(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - began)

    _training.adapt = timed
    dataset = {s.name: s for s in from_manifest(manifest)}[name].load()
    cls = (estimators.AutoMetaClassifier if dataset.task == "classification"
           else estimators.AutoMetaRegressor)
    model = cls(time_budget=60, n_trials=trials, ensemble_size=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        called = time.perf_counter()
        model.fit(dataset.X, dataset.y)
        seconds = time.perf_counter() - called
    print(json.dumps({"fit": seconds, "adapt": sum(spent), "first_adapt": spent[0],
                      "adaptations": len(spent), "trials": len(model.study_.trials),
                      "dynamo_imported": "torch._dynamo" in sys.modules}))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", default=str(MANIFEST))
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--child", nargs=2, metavar=("ARM", "DATASET"), help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--name", default="first_fit")
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child, args.trials, args.manifest)
        return
    began = time.monotonic()
    records = []
    for name in args.datasets:
        for repeat in range(args.repeats):
            for arm in ARMS if repeat % 2 == 0 else ARMS[::-1]:
                done = subprocess.run(
                    [sys.executable, __file__, "--child", arm, name, "--trials",
                     str(args.trials), "--manifest", args.manifest],
                    capture_output=True, text=True, check=True)
                record = json.loads(done.stdout.strip().splitlines()[-1])
                records.append({"dataset": name, "arm": arm, "repeat": repeat, **record})
                print(f"{name} {arm} #{repeat}: adapting {record['adapt']:.3f} s, fit "
                      f"{record['fit']:.2f} s, torch._dynamo imported: "
                      f"{record['dynamo_imported']}", flush=True)
    rows = []
    for name in args.datasets:
        row = {"dataset": name}
        for key in ("adapt", "first_adapt", "fit"):
            row[key] = {arm: float(np.median([r[key] for r in records
                                              if r["dataset"] == name and r["arm"] == arm]))
                        for arm in ARMS}
            row[key]["ratio"] = row[key]["torch.func"] / row[key]["autograd"]
        rows.append(row)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/first_fit.py" + ("" if args.name == "first_fit"
                                                  else f" --name {args.name}")
    elapsed = time.monotonic() - began
    (out / f"{args.name}.json").write_text(json.dumps(
        {"command": command, "repeats": args.repeats, "trials": args.trials,
         "seconds": elapsed, "machine": platform.platform(), "summary": rows,
         "records": records}, indent=1))
    lines = ["# The first fit in a fresh process", "",
             f"Reproduce with `{command}`; {args.repeats} processes per dataset and arm, "
             f"{args.trials} trials each ({elapsed:.0f} s).", "",
             "Seconds (median) spent adapting the meta-learner during the fit, all "
             "adaptations and the first alone, and the fit's seconds, with the "
             "adaptation's gradients taken by `torch.autograd.grad` (shipped) and by "
             "`torch.func.grad` (before):", "",
             "| dataset | adapting: autograd | torch.func | ratio | first adaptation: "
             "autograd | torch.func | fit: autograd | torch.func | ratio |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['dataset']} | {r['adapt']['autograd']:.3f} | {r['adapt']['torch.func']:.3f} "
              f"| {r['adapt']['ratio']:.1f} | {r['first_adapt']['autograd']:.3f} | "
              f"{r['first_adapt']['torch.func']:.3f} | {r['fit']['autograd']:.2f} | "
              f"{r['fit']['torch.func']:.2f} | {r['fit']['ratio']:.2f} |" for r in rows]
    (out / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
