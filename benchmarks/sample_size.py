"""Does the meta-learner's sample-size input help on larger samples? Pool-based, grouped.

The knowledge base's extension evaluates the same designs on up to 8,000 rows of the
datasets with more than 3,000 (README, "Building a meta-dataset"). For each of those
datasets, held out by the folds of benchmarks/metalearner.py (K folds over dataset
groups; every learner and baseline sees the other folds only), each method ranks the
configurations evaluated on the larger sample, and we report the normalized regret of
the best of its top 1, 3 and 5 against that pool, and the mean rank of the methods:

- the meta-learner trained with the extension, asked for the pool's rows;
- the same learner asked for the base protocol's rows (what the input changes);
- the meta-learner trained on the base protocol only (what the extension changes);
- the order the sampler starts in (:func:`~automl_meta.recommendation.startup_order`:
  the first learner's diverse top alternating with the training folds' portfolio at the
  pool's sample size);
- LightGBM's defaults, and the best single configuration of the training folds' larger
  samples (lowest mean normalized regret, the portfolio's first), as static references.

    python benchmarks/sample_size.py --knowledge-base metadata

writes benchmarks/results/sample_size.{json,md}. Meta-learners are cached with those of
benchmarks/metalearner.py (``--cache``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
from metalearner import (  # noqa: E402
    DEFAULT,
    MIN_POOL,
    base_protocol,
    group_folds,
    pools_of,
    trained,
    training_names,
)

from automl_meta.metadataset.knowledge_base import KnowledgeBase  # noqa: E402
from automl_meta.recommendation import (  # noqa: E402
    diverse_top,
    population_portfolio,
    startup_order,
)
from automl_meta.sampler import N_STARTUP  # noqa: E402
from automl_meta.spaces import encode  # noqa: E402

TOP = (1, 3, 5)
METHODS = ("with the extension, pool's rows", "with the extension, base rows",
           "base protocol only", "startup order, pool's rows", "LightGBM defaults",
           "best single configuration")
#: The static references, ranked at k = 1 only.
STATIC = METHODS[4:]


def larger_pools(kb: KnowledgeBase) -> dict[str, object]:
    """Pools of the evaluations made with the largest ``max_rows`` of the knowledge base."""
    scores = kb.scores()
    largest = scores["max_rows"].max()
    return pools_of(scores[scores["max_rows"] == largest], MIN_POOL)


def regret_of_top(pool, order: list[int]) -> list[float]:
    """Normalized regret of the best of the first k of ``order``, for each k of TOP."""
    curve = pool.regret_curve(order[:max(TOP)], max(TOP))
    return [float(curve[k - 1]) for k in TOP]


def run(kb: KnowledgeBase, folds: int, cache: Path, log=print, steps: int | None = None
        ) -> dict:
    base = base_protocol(kb)
    if base is kb or len(set(kb.evaluations["max_rows"])) < 2:
        raise SystemExit("the knowledge base has no larger-sample extension")
    metafeatures = kb.metafeatures.drop_duplicates("dataset", keep="last").set_index("dataset")
    # The folds of benchmarks/metalearner.py, so its cached meta-learners are reused.
    names = sorted(n for n, p in pools_of(base.scores(), MIN_POOL).items()
                   if n in metafeatures.index)
    fold_names = group_folds(kb.datasets, names, folds, seed=0)
    pools = larger_pools(kb)
    base_rows = float((kb.manifest.get("protocol") or {}).get("max_rows", 1000))
    records = []
    for k, test in enumerate(fold_names):
        start = time.perf_counter()
        train = training_names(kb, test)
        with_extension = trained(kb, DEFAULT, steps, train, cache, seed=0)
        without = trained(base, DEFAULT, steps, train, cache, seed=0)
        train_scores = kb.subset(train).scores()
        for name in (n for n in test if n in pools):
            pool, features = pools[name], metafeatures.loc[name]
            predictions = {
                method: learner.predict(features, pool.families, pool.params, task=pool.task,
                                        rows=rows)
                for method, learner, rows in ((METHODS[0], with_extension, pool.rows),
                                              (METHODS[1], with_extension, base_rows),
                                              (METHODS[2], without, None))}
            orders = {method: list(np.argsort(-mean, kind="stable"))
                      for method, (mean, _) in predictions.items()}
            index = {key: i for i, key in enumerate(pool.keys)}
            portfolio = [index[key] for key in population_portfolio(
                train_scores, pool.task, N_STARTUP, rows=pool.rows) if key in index]
            mean, std = predictions[METHODS[0]]
            learned = diverse_top(list(zip(pool.families, pool.params, strict=True)), mean,
                                  max(TOP), lambda f, p, task=pool.task: encode(f, task, p))
            orders[METHODS[3]] = startup_order(learned, portfolio, mean, std, max(TOP))
            if ("lightgbm", 0) in index:
                orders[METHODS[4]] = [index[("lightgbm", 0)]]
            if portfolio:
                orders[METHODS[5]] = portfolio[:1]
            for method, order in orders.items():
                records.append({"dataset": name, "task": pool.task, "fold": k,
                                "rows": pool.rows, "pool_size": len(pool.losses),
                                "method": method, "regret": regret_of_top(pool, order)})
        log(f"fold {k + 1}/{folds}: {sum(n in pools for n in test)} datasets with a larger "
            f"sample, {time.perf_counter() - start:.0f} s")
    return {"records": records, "base_rows": base_rows}


def summarise(records: list[dict]) -> pd.DataFrame:
    """Mean regret and mean rank per method and k (static references at k = 1 only)."""
    frame = pd.DataFrame(records)
    rows = []
    for i, k in enumerate(TOP):
        at = frame.assign(regret=[r[i] for r in frame["regret"]])
        if k > 1:
            at = at[~at["method"].isin(STATIC)]
        table = at.pivot(index="dataset", columns="method", values="regret")
        ranks = table.rank(axis=1, method="average").mean()
        for method in table.columns:
            rows.append({"method": method, "top": k, "regret": float(table[method].mean()),
                         "rank": float(ranks[method]),
                         "datasets": int(table[method].notna().sum())})
    return pd.DataFrame(rows)


def markdown(summary: pd.DataFrame, meta: dict) -> str:
    regret = summary.pivot(index="method", columns="top", values="regret")
    rank = summary.pivot(index="method", columns="top", values="rank")
    lines = ["# The sample-size input, on larger samples of held-out datasets", "",
             "Reproduce with:", "", "```", meta["command"], "```", "",
             f"{meta['n_datasets']} datasets with a larger-sample pool ({meta['rows']}), held "
             f"out by {meta['folds']} folds over dataset groups; each method's top k "
             "configurations of the pool, normalized regret of the best of them (0 = the "
             "pool's best, 1 = its worst) and mean rank per k (static references: k = 1). "
             f"{meta['seconds']:.0f} s.", "",
             "| method | " + " | ".join(f"regret top {k} | rank top {k}" for k in TOP) + " |",
             "|---|" + "---:|---:|" * len(TOP)]
    for method in METHODS:
        if method in regret.index:
            cells = [f"{regret.at[method, k]:.3f} | {rank.at[method, k]:.2f}"
                     if pd.notna(regret.at[method, k]) else "- | -" for k in TOP]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--knowledge-base", default=None,
                        help="a knowledge-base folder (default: the shipped one)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir())
                                               / "automl_meta-metalearner-benchmark"))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    start = time.perf_counter()
    kb = KnowledgeBase.load(args.knowledge_base)
    result = run(kb, args.folds, Path(args.cache))
    summary = summarise(result["records"])
    rows = sorted({r["rows"] for r in result["records"]})
    meta = {"command": " ".join(["python", "benchmarks/sample_size.py", *sys.argv[1:]]),
            "folds": args.folds, "counts": kb.counts(),
            "n_datasets": len({r["dataset"] for r in result["records"]}),
            "rows": f"{min(rows):,.0f} to {max(rows):,.0f} rows, base protocol "
                    f"{result['base_rows']:,.0f}", "seconds": time.perf_counter() - start}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sample_size.json").write_text(json.dumps(
        {**meta, "summary": summary.to_dict("records"), "records": result["records"]},
        indent=1, default=float) + "\n")
    (out / "sample_size.md").write_text(markdown(summary, meta))
    print(markdown(summary, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
