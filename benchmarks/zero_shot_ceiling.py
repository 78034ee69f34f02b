"""How often can one configuration, chosen before any trial, beat LightGBM's defaults?

The end-to-end benchmark's zero-shot target (better than LightGBM's defaults on at least
70% of the datasets), measured on the knowledge base's own evaluations, where there is
no test-split noise: every dataset of the knowledge base is held out once, in the folds
over dataset groups of benchmarks/metalearner.py (near-duplicates together), with the
joint meta-learner and the greedy portfolio of the other folds. Each rule picks one
configuration from the pool already evaluated on the held-out dataset, and its
cross-validated score is compared with that of LightGBM's default configuration in the
same pool (ties within a relative 1e-4, as in benchmarks/end_to_end.py; the mean
relative gain is that of the score, ROC AUC or RMSE, over LightGBM's default's):

- shipped: the first trial of ``MetaLearnedSampler``, which is the zero-shot mode of
  ``AutoMetaClassifier`` (``startup_order``: the portfolio's first configuration unless
  the learner predicts its own top better by more than ``FIRST_PICK_MARGIN`` standard
  deviations), chosen from the pool rather than from the sampler's candidates (which
  add a Sobol sample of each family's space);
- meta-learner's top: the highest predicted score;
- portfolio's first: the training folds' best single configuration at that sample size;
- likeliest to beat LightGBM's default: the highest ``(mean - mean_default) / sd`` of
  the difference, by the learner's ensemble;
- most frequent winner: the configuration that beat LightGBM's default on the largest
  share of the training datasets of the task;
- meta-learner's top LightGBM, LightGBM likeliest to beat its default: the same two
  rules among LightGBM's configurations only (a tuned default rather than another
  family);
- oracle: the pool's best configuration, a bound no rule can pass.

The base protocol (at most 1,000 rows, every dataset) and the larger-sample extension
(8,000 rows, some datasets), where the knowledge base has it, are reported apart:

    python benchmarks/zero_shot_ceiling.py --knowledge-base metadata

writes benchmarks/results/zero_shot_ceiling.{json,md}.
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

from automl_meta.metadataset.knowledge_base import KnowledgeBase
from automl_meta.recommendation import FIRST_PICK_MARGIN, population_portfolio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from end_to_end import TIE_TOLERANCE, outcome  # noqa: E402
from metalearner import (  # noqa: E402
    DEFAULT,
    MIN_POOL,
    Pool,
    group_folds,
    pools_of,
    surrogate_search,
    trained,
    training_names,
)

RULES = ("shipped", "meta-learner's top", "portfolio's first",
         "likeliest to beat LightGBM's default", "most frequent winner",
         "meta-learner's top LightGBM", "LightGBM likeliest to beat its default", "oracle")
REFERENCE = "lightgbm"


def reference_keys(kb: KnowledgeBase) -> dict[str, tuple[str, int]]:
    """Per task, the pool key of LightGBM's default configuration: the configuration of
    its design whose origin is ``"default"`` (``automl-meta build`` puts it first)."""
    c = kb.configurations
    rows = c[(c["family"] == REFERENCE) & (c["origin"] == "default")]
    return {task: (REFERENCE, int(config_id))
            for task, config_id in zip(rows["task"], rows["config_id"], strict=True)}


def position(pool: Pool, key: tuple[str, int] | None) -> int | None:
    """The pool index of ``key`` (None: not evaluated on this pool)."""
    return pool.keys.index(key) if key in pool.keys else None


def win_rates(pools: list[tuple[Pool, int]]) -> dict[tuple[str, int], float]:
    """Share of the pools on which each configuration beat LightGBM's default (the pool
    index paired with each pool), judged on the pools that hold it; configurations held
    by fewer than half are left out."""
    wins: dict[tuple[str, int], int] = {}
    seen: dict[tuple[str, int], int] = {}
    for pool, j in pools:
        for key, loss in zip(pool.keys, pool.losses, strict=True):
            seen[key] = seen.get(key, 0) + 1
            wins[key] = wins.get(key, 0) + (outcome(loss, pool.losses[j]) > 0)
    return {key: wins[key] / n for key, n in seen.items() if 2 * n >= len(pools)}


def picks(pool: Pool, j: int, learner, features: pd.Series,
          portfolio: list[tuple[str, int]], rates: dict[tuple[str, int], float],
          ) -> dict[str, int]:
    """The pool index each rule picks; ``j`` is that of LightGBM's default."""
    mean, std = learner.predict(features, pool.families, pool.params, task=pool.task,
                                rows=pool.rows)
    index = {key: i for i, key in enumerate(pool.keys)}
    beat = (mean - mean[j]) / np.maximum(np.hypot(std, std[j]), 1e-12)
    beat[j] = -np.inf  # the default cannot beat itself
    first = next((index[key] for key in portfolio if key in index), int(np.argmax(mean)))
    frequent = np.array([rates.get(key, -1.0) for key in pool.keys])
    other = np.array(pool.families) != REFERENCE
    return {"shipped": surrogate_search(learner, features, pool, 1, adapt=False,
                                        portfolio=portfolio)[0],
            "meta-learner's top": int(np.argmax(mean)),
            "portfolio's first": first,
            "likeliest to beat LightGBM's default": int(np.argmax(beat)),
            "most frequent winner": int(np.argmax(frequent)),
            "meta-learner's top LightGBM": int(np.argmax(np.where(other, -np.inf, mean))),
            "LightGBM likeliest to beat its default": int(np.argmax(
                np.where(other, -np.inf, beat))),
            "oracle": int(np.argmin(pool.losses))}


def run(kb: KnowledgeBase, folds: int, cache: Path, log=print) -> list[dict]:
    """One record per held-out dataset, sample size and rule."""
    scores = kb.scores()
    metafeatures = kb.metafeatures.drop_duplicates("dataset", keep="last").set_index(
        "dataset")
    sizes = sorted(scores["max_rows"].dropna().unique().tolist()) or [None]
    every = {size: {n: p for n, p in pools_of(
        scores if size is None else scores[scores["max_rows"] == size], 2).items()
        if n in metafeatures.index} for size in sizes}
    # The folds of benchmarks/metalearner.py: over the base protocol's pools.
    names = sorted(n for n, p in every[sizes[0]].items() if len(p.losses) >= MIN_POOL)
    # Each pool paired with the index of LightGBM's default in it; pools without it can
    # neither be judged nor teach a win rate.
    reference = reference_keys(kb)
    by_size = {size: {n: (p, j) for n, p in pools.items()
                      if (j := position(p, reference.get(p.task))) is not None}
               for size, pools in every.items()}
    records = []
    for k, test in enumerate(group_folds(kb.datasets, names, folds, seed=0)):
        start = time.perf_counter()
        train = training_names(kb, test)
        learner = trained(kb, DEFAULT, None, train, cache, seed=0)
        train_scores = kb.subset(train).scores()
        for size, pools in by_size.items():
            for task in sorted({pools[n][0].task for n in test if n in pools}):
                rates = win_rates([pools[n] for n in train
                                   if n in pools and pools[n][0].task == task])
                portfolio = population_portfolio(train_scores, task, 1, rows=size)
                for name in test:
                    pool, j = pools.get(name, (None, None))
                    if pool is None or pool.task != task or len(pool.losses) < MIN_POOL:
                        continue
                    chosen = picks(pool, j, learner, metafeatures.loc[name], portfolio,
                                   rates)
                    for rule, i in chosen.items():
                        records.append({
                            "dataset": name, "task": task, "fold": k, "max_rows": size,
                            "rows": pool.rows, "rule": rule, "family": pool.families[i],
                            "params": pool.params[i], "loss": float(pool.losses[i]),
                            "default_loss": float(pool.losses[j]),
                            "outcome": outcome(pool.losses[i], pool.losses[j])})
        log(f"fold {k + 1}/{folds}: {len(test)} held-out datasets, "
            f"{time.perf_counter() - start:.0f} s")
    return records


def summarise(records: list[dict]) -> pd.DataFrame:
    """Wins, ties and losses against LightGBM's default, and the mean relative gain of
    the score over it (positive: better), per sample size and rule."""
    frame = pd.DataFrame(records)
    frame = frame.assign(max_rows=frame["max_rows"].fillna(0).astype(int),
                         gain=(frame["default_loss"] - frame["loss"])
                         / frame["default_loss"].abs())
    table = (frame.groupby(["max_rows", "rule"], sort=False)
             .agg(datasets=("outcome", "size"), wins=("outcome", lambda o: int((o > 0).sum())),
                  ties=("outcome", lambda o: int((o == 0).sum())),
                  losses=("outcome", lambda o: int((o < 0).sum())),
                  gain=("gain", "mean"))
             .reset_index().rename(columns={"gain": "mean relative gain"}))
    table.insert(6, "share won", table["wins"] / table["datasets"])
    order = {rule: i for i, rule in enumerate(RULES)}
    return table.sort_values(["max_rows", "rule"], key=lambda c: c.map(order)
                             if c.name == "rule" else c).reset_index(drop=True)


def markdown(summary: pd.DataFrame, meta: dict) -> str:
    lines = ["# Zero-shot picks against LightGBM's defaults, on the knowledge base", "",
             f"Reproduce with `{meta['command']}` ({meta['seconds']:.0f} s).", "",
             f"{meta['folds']} folds over dataset groups; the {DEFAULT} meta-learner and "
             "the portfolio of the other folds; each rule picks one configuration of the "
             "held-out dataset's pool, compared by its cross-validated score with "
             "LightGBM's default configuration in the same pool (ties within a relative "
             f"{TIE_TOLERANCE:g}; the relative gain is the score's, ROC AUC or RMSE, over "
             "the default's). The shipped rule's first-pick margin: "
             f"{FIRST_PICK_MARGIN:g} standard deviations. See the module docstring for "
             "the rules.", ""]
    for size, rows in summary.groupby("max_rows", sort=True):
        label = f"at most {size:,} rows" if size else "all evaluations"
        lines += [f"## Pools of {label} ({rows['datasets'].iloc[0]} datasets)", "",
                  "| rule | wins | ties | losses | share won | mean relative gain |",
                  "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['rule']} | {r['wins']} | {r['ties']} | {r['losses']} | "
                  f"{r['share won']:.0%} | {r['mean relative gain']:+.2%} |"
                  for _, r in rows.iterrows()]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--knowledge-base", default=None,
                        help="a knowledge-base folder (default: the shipped one)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir())
                                               / "automl_meta-metalearner-benchmark"),
                        help="trained meta-learners, shared with benchmarks/metalearner.py")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    kb = KnowledgeBase.load(args.knowledge_base)
    start = time.perf_counter()
    records = run(kb, args.folds, Path(args.cache))
    summary = summarise(records)
    meta = {"command": " ".join(["python", "benchmarks/zero_shot_ceiling.py",
                                 *(sys.argv[1:] if argv is None else argv)]),
            "folds": args.folds, "counts": kb.counts(),
            "seconds": time.perf_counter() - start}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "zero_shot_ceiling.json").write_text(json.dumps(
        {**meta, "summary": summary.to_dict("records"), "records": records}, indent=1,
        default=float) + "\n")
    text = markdown(summary, meta)
    (out / "zero_shot_ceiling.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
