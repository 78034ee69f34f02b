"""Does the knowledge base's small-sample protocol rank configurations as full data would?

The knowledge base evaluates every configuration on at most 1,000 rows. On larger data a
different configuration may win. For the held-out datasets of one fold (K folds over
dataset groups; the meta-learner and its knowledge base see only the other folds) with
more than ``--min-rows`` rows, this script takes the zero-shot recommendation (the top
configuration of :func:`automl_meta.recommend`) and LightGBM's defaults, and scores
both by cross-validation on subsamples of each size in ``--rows`` (stratified, seed 0).
It reports which of the two wins at each size, and on how many datasets the order flips
between the smallest and the largest size.

    python benchmarks/fidelity.py --knowledge-base metadata

writes benchmarks/results/fidelity.{json,md}. Trained meta-learners are shared with
benchmarks/metalearner.py (``--cache``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from metalearner import DEFAULT, trained  # noqa: E402
from sampler import MANIFEST, held_out  # noqa: E402

from automl_meta.evaluation import evaluate  # noqa: E402
from automl_meta.evaluation.metrics import DEFAULT_METRIC, get_metric  # noqa: E402
from automl_meta.metadataset.knowledge_base import KnowledgeBase  # noqa: E402
from automl_meta.metadataset.sources import from_manifest  # noqa: E402
from automl_meta.recommendation import recommend  # noqa: E402
from automl_meta.spaces import default_params  # noqa: E402


def compare(dataset, pick: tuple[str, dict], sizes: list[int], cv: int,
            time_limit: float) -> dict:
    """Cross-validated scores of the pick and of LightGBM's defaults at each size."""
    metric = get_metric(DEFAULT_METRIC[dataset.task], dataset.task)
    out = {}
    for rows in sizes:
        scores = {}
        for name, (family, params) in (("pick", pick), ("lightgbm_default", (
                "lightgbm", default_params("lightgbm", dataset.task)))):
            result = evaluate(family, params, dataset, metric.name, cv=cv, seed=0,
                              time_limit=time_limit, max_rows=rows)
            scores[name] = float(result.score()) if result.ok else None
        losses = {k: None if v is None else float(metric.loss(v)) for k, v in scores.items()}
        out[str(rows)] = {**scores, "pick_wins": None if None in losses.values()
                          else bool(losses["pick"] < losses["lightgbm_default"])}
    return out


def markdown(records: list[dict], meta: dict) -> str:
    sizes = [str(s) for s in meta["rows"]]
    lines = ["# Small-sample protocol against larger samples", "", "Reproduce with:", "",
             "```", meta["command"], "```", "",
             f"Fold {meta['fold'] + 1} of {meta['folds']} over dataset groups held out; its "
             f"{len(records)} datasets with more than {meta['min_rows']:,} rows. The pick is "
             "the top zero-shot recommendation of the meta-learner trained on the other "
             f"folds ({meta['n_train']} datasets); {meta['cv']}-fold CV on a stratified "
             "subsample (seed 0) of each size (all rows when fewer); ROC AUC (higher is "
             f"better) or RMSE (lower is better). {meta['seconds']:.0f} s.", ""]
    for size in sizes:
        won = [r["sizes"][size]["pick_wins"] for r in records]
        lines.append(f"- at {int(size):,} rows the pick beats LightGBM's defaults on "
                     f"{sum(w is True for w in won)} of {len(won)} datasets")
    flips = [r for r in records if None not in (r["sizes"][sizes[0]]["pick_wins"],
                                                r["sizes"][sizes[-1]]["pick_wins"])
             and r["sizes"][sizes[0]]["pick_wins"] != r["sizes"][sizes[-1]]["pick_wins"]]
    lines += [f"- the order flips between {int(sizes[0]):,} and {int(sizes[-1]):,} rows on "
              f"{len(flips)} of {len(records)} datasets", "",
              "| dataset | rows | metric | pick | " + " | ".join(
                  f"pick @{int(s):,} | defaults @{int(s):,}" for s in sizes) + " |",
              "|---|---:|---|---|" + "---:|---:|" * len(sizes)]
    for r in records:
        cells = []
        for s in sizes:
            for key in ("pick", "lightgbm_default"):
                value = r["sizes"][s][key]
                cells.append("failed" if value is None else f"{value:.4g}")
        lines.append(f"| {r['dataset']} | {r['n_rows']:,} | {r['metric']} | {r['family']} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--knowledge-base", default=None,
                        help="a knowledge-base folder (default: the shipped one)")
    parser.add_argument("--manifest", default=str(MANIFEST))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--fold", type=int, default=0, help="the held-out fold")
    parser.add_argument("--min-rows", type=int, default=5000)
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 20000])
    parser.add_argument("--cv", type=int, default=2)
    parser.add_argument("--time-limit", type=float, default=300)
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir())
                                               / "automl_meta-metalearner-benchmark"))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()
    kb = KnowledgeBase.load(args.knowledge_base)
    train, test = held_out(kb, args.folds, args.fold, 10**9, seed=0)
    learner = trained(kb, DEFAULT, None, train, Path(args.cache), seed=0)
    seen = kb.subset(train)
    specs = {spec.name: spec for spec in from_manifest(args.manifest)}
    n_rows = kb.datasets.set_index("name")["n_rows"]
    large = [n for n in test if n in specs and n_rows[n] > args.min_rows]
    records = []
    for name in large:
        dataset = specs[name].load()
        top = recommend(dataset.X, dataset.y, k=1, task=dataset.task, learner=learner,
                        knowledge_base=seen).configurations.iloc[0]
        sizes = compare(dataset, (top["family"], top["params"]), args.rows, args.cv,
                        args.time_limit)
        records.append({"dataset": name, "task": dataset.task, "n_rows": int(n_rows[name]),
                        "metric": DEFAULT_METRIC[dataset.task], "family": top["family"],
                        "params": top["params"], "sizes": sizes})
        print(name, json.dumps(sizes), flush=True)
    meta = {"command": " ".join(["python", "benchmarks/fidelity.py", *sys.argv[1:]]),
            "fold": args.fold, "folds": args.folds, "min_rows": args.min_rows,
            "rows": args.rows, "cv": args.cv, "n_train": len(train),
            "counts": kb.counts(), "seconds": time.perf_counter() - start}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fidelity.json").write_text(json.dumps({**meta, "records": records}, indent=1,
                                                  default=float) + "\n")
    (out / "fidelity.md").write_text(markdown(records, meta))
    print(markdown(records, meta))
    return 0 if records else 1


if __name__ == "__main__":
    sys.exit(main())
