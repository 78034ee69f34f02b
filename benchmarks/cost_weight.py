"""How much should a search under a time budget favour fast configurations?

``MetaLearnedSampler`` with ``time_left`` takes the candidate with the best
``mean + beta * std - cost_weight * log(predicted seconds)``. This benchmark measures
that weight over the knowledge base's own evaluations, where every configuration of a
pool has a score and recorded fit and predict times: each dataset is held out once, in
the folds over dataset groups of benchmarks/metalearner.py (near-duplicates together),
with the joint meta-learner, the portfolio and the cost model of the other folds. The
search is that of benchmarks/metalearner.py (``surrogate_search``: the zero-shot start,
then the adapted surrogate's UCB with coverage trials), with time as its budget:

- a pick costs the configuration's recorded seconds, fitting and predicting (summed
  over its CV folds), plus ``--overhead`` seconds (a trial's other fixed costs:
  scoring, the study);
- the budget is a multiple (``--budgets``) of the pool's median pick cost, and the
  search ends before the first pick that would not finish within it;
- predicted seconds are the sampler's own cost model (``_Costs``, learned from the
  training folds' fit and predict times) calibrated, as the sampler does, by per-family
  log offsets of the picks made so far (a family not picked yet takes their mean: the
  sampler also corrects it for how a trial's time grows with the rows, which is about
  nothing at the knowledge base's own sample size); until a pick has finished nothing
  is predicted, the cheapest start configuration goes first, and from then on a
  configuration predicted to take more than ``AFFORDABLE_SHARE`` of the time left is
  passed over while another is affordable (as ``MetaLearnedSampler``).

With ``--probe-shares``, the sampler's probes too (``MetaLearnedSampler``'s
``probe_share``): once a pick has finished, while the budget holds fewer than
``PROBE_HORIZON`` picks of the median pick's cost, a family not picked yet whose
defaults are in the pool and predicted to take at most that share of the median pick
gets the next pick; the start resumes after it, and a probe's pick calibrates its own
family only.

With ``--stop-share``, the estimators' early stop of slow trials
(``automl_meta.estimators.SLOW_TRIAL_SHARE``): once a pick has finished, a pick whose
seconds exceed that share of the time left is stopped after the first of the pool's two
CV folds. It costs half its seconds, gives no score (it is not among the picks the
regret is read from, nor among those the surrogate adapts to) and calibrates the cost
model with its whole seconds, as the sampler does with the stopped trial's projection.
In the estimators' 5-fold CV a stop saves four fifths of a trial, here a half.

Reported per budget, weight and probe share: the mean normalized regret at the end of
the budget (that of benchmarks/metalearner.py, on the pool's losses), the trials run,
and the datasets on which each weight ends better or worse than weight 0, and each
probe share than no probes.

    python benchmarks/cost_weight.py --knowledge-base metadata

writes benchmarks/results/cost_weight.{json,md}.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from automl_meta.metadataset.knowledge_base import KnowledgeBase
from automl_meta.recommendation import diverse_top, population_portfolio, startup_order
from automl_meta.sampler import (
    AFFORDABLE_SHARE,
    BETA,
    COST_WEIGHT,
    N_STARTUP,
    PROBE_HORIZON,
    PROBE_SHARE,
    MetaLearnedSampler,
    _log_cost,
    is_coverage_trial,
)
from automl_meta.spaces import default_params, encode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from metalearner import (  # noqa: E402
    DEFAULT,
    MIN_POOL,
    Pool,
    base_protocol,
    group_folds,
    pools_of,
    trained,
    training_names,
)

WEIGHTS = (0.0, COST_WEIGHT, 0.2, 0.3)
BUDGETS = (30.0, 60.0, 100.0)
OVERHEAD = 0.05


def timed_search(learner, features: pd.Series, pool: Pool, seconds: np.ndarray,
                 relative: np.ndarray, budget: float, weight: float,
                 portfolio: list[tuple[str, int]], probe_share: float = 0.0,
                 stop_share: float = 0.0) -> list[int]:
    """The pool indices a search picks and scores, in order, within ``budget`` seconds,
    where pick ``i`` takes ``seconds[i]`` and the cost model's log seconds relative to a
    typical configuration are ``relative[i]``; with ``probe_share``, the sampler's
    probes of cheap families not picked yet (their defaults, where the pool has them);
    with ``stop_share``, the early stop of slow picks (not among those returned)."""
    mean, std = learner.predict(features, pool.families, pool.params, task=pool.task,
                                rows=pool.rows)
    defaults = {i for i, (f, p) in enumerate(zip(pool.families, pool.params, strict=True))
                if p == default_params(f, pool.task)} if probe_share else set()
    index = {key: i for i, key in enumerate(pool.keys)}
    learned = diverse_top(list(zip(pool.families, pool.params, strict=True)), mean,
                          N_STARTUP, lambda f, p: encode(f, pool.task, p))
    start = startup_order(learned, [index[key] for key in portfolio if key in index],
                          mean, std, N_STARTUP)
    # Nothing is known of this dataset's speed yet: the cheapest start goes first.
    start.insert(0, start.pop(int(np.argmin(relative[start]))))
    picks: list[int] = []
    probes: list[int] = []
    stopped: set[int] = set()
    used, model = 0.0, learner
    while len(picks) < len(pool.losses):
        t = len(picks)
        remaining = [i for i in range(len(pool.losses)) if i not in picks]
        predicted = np.zeros(len(remaining))
        if picks:
            offsets: dict[str, list[float]] = {}
            for i in picks:
                offsets.setdefault(pool.families[i], []).append(
                    math.log(seconds[i]) - relative[i])
            # Probes calibrate their own family only (while there are other picks).
            transfer = [math.log(seconds[i]) - relative[i] for i in picks
                        if i not in probes] or [x for v in offsets.values() for x in v]
            overall = float(np.mean(transfer))
            predicted = np.exp([np.mean(offsets.get(pool.families[i], [overall]))
                                + relative[i] for i in remaining])
        ok = predicted <= AFFORDABLE_SHARE * (budget - used)
        tried = {pool.families[j] for j in picks}
        cheap = []  # probes wait for a finished pick to tell what a pick costs
        median = float(np.median(seconds[picks])) if picks else None
        if median is not None and budget < PROBE_HORIZON * median:
            cheap = [k for k, i in enumerate(remaining) if i in defaults and ok[k]
                     and pool.families[i] not in tried
                     and predicted[k] <= probe_share * median]
        position = t - len(probes)
        if cheap:
            pick = remaining[max(cheap, key=lambda k: mean[remaining[k]]
                                 + BETA * std[remaining[k]])]
            probes.append(pick)
        elif (position < len(start) and start[position] not in picks
              and ok[remaining.index(start[position])]):
            pick = start[position]
        else:
            if t <= 10 or t % 5 == 0:
                model = learner.adapt(features, [(pool.families[i], pool.params[i],
                                                  pool.scores[i]) for i in picks
                                                 if i not in stopped],
                                      task=pool.task, rows=pool.rows)
            mean, std = model.predict(features, [pool.families[i] for i in remaining],
                                      [pool.params[i] for i in remaining], task=pool.task,
                                      rows=pool.rows)
            acquisition = mean + BETA * std - weight * _log_cost(predicted)
            if is_coverage_trial(t, N_STARTUP):
                untried = np.array([pool.families[i] not in tried for i in remaining])
                if (ok & untried).any():
                    ok = ok & untried
            pick = (remaining[int(np.argmax(np.where(ok, acquisition, -np.inf)))]
                    if ok.any() else remaining[int(np.argmin(predicted))])
        stop = (stop_share > 0 and len(stopped) < len(picks)
                and seconds[pick] > stop_share * (budget - used))
        cost = seconds[pick] / 2 if stop else seconds[pick]
        if used + cost > budget:
            break
        picks.append(pick)
        used += cost
        if stop:
            stopped.add(pick)
    return [i for i in picks if i not in stopped]


def run(kb: KnowledgeBase, folds: int, cache: Path, weights, budgets, overhead: float,
        probe_shares=(0.0,), stop_share: float = 0.0, log=print) -> list[dict]:
    """One record per held-out dataset, budget, weight and probe share."""
    base = base_protocol(kb)
    scores = base.scores()
    metafeatures = kb.metafeatures.drop_duplicates("dataset", keep="last").set_index(
        "dataset")
    ok = scores[(scores["status"] == "ok") & scores["score"].notna()]
    trial_seconds = ok["fit_seconds"] + ok["predict_seconds"].fillna(0.0)
    fit = {(d, f, int(c)): s for d, f, c, s in zip(
        ok["dataset"], ok["family"], ok["config_id"], trial_seconds, strict=True)}
    pools = {n: p for n, p in pools_of(scores, MIN_POOL).items() if n in metafeatures.index}
    names = sorted(pools)
    records = []
    for k, test in enumerate(group_folds(kb.datasets, names, folds, seed=0)):
        start = time.perf_counter()
        train = training_names(kb, test)
        learner = trained(kb, DEFAULT, None, train, cache, seed=0)
        train_kb = kb.subset(train)
        train_scores = base.subset(train).scores()
        # Per task: the sampler's cost model (its relative costs depend on the training
        # folds only, not on the held-out dataset's features) and the portfolio.
        costs, portfolios = {}, {}
        for task in sorted({pools[n].task for n in test}):
            costs[task] = MetaLearnedSampler(
                metafeatures=metafeatures.loc[next(n for n in test if pools[n].task == task)],
                task=task, learner=learner, knowledge_base=train_kb,
                time_left=lambda: 1.0)._costs
            portfolios[task] = population_portfolio(train_scores, task, N_STARTUP)
        for name in test:
            pool = pools[name]
            features = metafeatures.loc[name]
            portfolio = portfolios[pool.task]
            seconds = np.array([fit[(name, *key)] for key in pool.keys]) + overhead
            relative = np.array([costs[pool.task].relative(f, p) for f, p in
                                 zip(pool.families, pool.params, strict=True)])
            for multiple, weight, share in itertools.product(budgets, weights,
                                                             probe_shares):
                picks = timed_search(learner, features, pool, seconds, relative,
                                     multiple * float(np.median(seconds)), weight,
                                     portfolio, share, stop_share)
                regret = (pool.regret_curve(picks, len(picks))[-1] if picks else 1.0)
                records.append({"dataset": name, "task": pool.task, "fold": k,
                                "budget": multiple, "weight": weight, "probe_share": share,
                                "regret": float(regret), "trials": len(picks)})
        log(f"fold {k + 1}/{folds}: {len(test)} held-out datasets, "
            f"{time.perf_counter() - start:.0f} s")
    return records


def summarise(records: list[dict]) -> pd.DataFrame:
    """Per budget, weight and probe share: mean and median regret, mean trials, and the
    datasets ending better or worse (paired by dataset) than with weight 0 and the same
    probe share (``better``, ``worse``) and than without probes and the same weight
    (``better_than_none``, ``worse_than_none``)."""
    frame = pd.DataFrame(records)

    def paired(reference: pd.DataFrame, keys: list[str]) -> np.ndarray:
        return reference.set_index([*keys, "dataset"])["regret"].reindex(
            pd.MultiIndex.from_frame(frame[[*keys, "dataset"]])).to_numpy()

    frame = frame.assign(
        base=paired(frame[frame["weight"] == 0], ["budget", "probe_share"]),
        none=paired(frame[frame["probe_share"] == 0], ["budget", "weight"]))

    def counts(column: str, sign: int):
        return lambda r: int((sign * (r - frame.loc[r.index, column]) > 0).sum())

    return (frame.groupby(["budget", "weight", "probe_share"])
            .agg(datasets=("regret", "size"), regret=("regret", "mean"),
                 median=("regret", "median"), trials=("trials", "mean"),
                 better=("regret", counts("base", -1)), worse=("regret", counts("base", 1)),
                 better_than_none=("regret", counts("none", -1)),
                 worse_than_none=("regret", counts("none", 1)))
            .reset_index())


def compare(records: list[dict], reference: list[dict]) -> pd.DataFrame:
    """Per budget, weight and probe share that both runs have: the reference run's mean
    regret and trials next to this run's, and the datasets ending better or worse."""
    keys = ["budget", "weight", "probe_share", "dataset"]
    both = pd.DataFrame(records).merge(pd.DataFrame(reference)[[*keys, "regret", "trials"]],
                                       on=keys, suffixes=("", "_reference"))
    return (both.assign(better=both["regret"] < both["regret_reference"],
                        worse=both["regret"] > both["regret_reference"])
            .groupby(keys[:-1])
            .agg(datasets=("regret", "size"), reference=("regret_reference", "mean"),
                 regret=("regret", "mean"), reference_trials=("trials_reference", "mean"),
                 trials=("trials", "mean"), better=("better", "sum"), worse=("worse", "sum"))
            .reset_index())


def markdown(summary: pd.DataFrame, meta: dict,
             comparison: pd.DataFrame | None = None) -> str:
    lines = ["# Cost weight of the time-budgeted search, on the knowledge base", "",
             f"Reproduce with `{meta['command']}` ({meta['seconds']:.0f} s).", "",
             f"{meta['folds']} folds over dataset groups; the {DEFAULT} meta-learner, "
             "portfolio and cost model of the other folds. A pick costs its recorded fit "
             f"and predict seconds plus {meta['overhead']:g} s; the budget is a multiple of "
             "the pool's median pick cost. Regret: normalized, on the pool's losses, at the "
             "end of the budget (lower is better); better / worse: datasets against "
             "weight 0. The shipped weight (`COST_WEIGHT`) is "
             f"{COST_WEIGHT:g}. See the module docstring.", ""]
    if meta.get("stop_share"):
        lines += [f"Slow picks stop after their first fold (`--stop-share "
                  f"{meta['stop_share']:g}`; see the module docstring).", ""]
    probes = (summary["probe_share"] > 0).any()
    if probes:
        lines += ["With probes (share > 0; the shipped `PROBE_SHARE` is "
                  f"{PROBE_SHARE:g}), the last two columns count the datasets that end "
                  "better / worse than without probes at the same weight.", ""]
    lines += ["| budget (median picks) | weight | " + ("probe share | " if probes else "")
              + "datasets | mean regret | median regret | trials | better | worse |"
              + (" better than no probes | worse |" if probes else ""),
              "|---:|---:|" + ("---:|" if probes else "") + "---:|---:|---:|---:|---:|---:|"
              + ("---:|---:|" if probes else "")]
    for r in summary.itertuples():
        line = (f"| {r.budget:g} | {r.weight:g} | "
                + (f"{r.probe_share:g} | " if probes else "")
                + f"{r.datasets} | {r.regret:.4f} | {r.median:.4f} | {r.trials:.1f} | "
                f"{r.better} | {r.worse} |")
        if probes:
            line += (f" {r.better_than_none} | {r.worse_than_none} |" if r.probe_share
                     else " | |")
        lines.append(line)
    if comparison is not None:
        lines += ["", f"Against `{meta['reference']}`, dataset by dataset (better / worse: "
                  "datasets ending with a lower / higher regret than there):", "",
                  "| budget | weight | probe share | datasets | mean regret there | here | "
                  "trials there | here | better | worse |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {r.budget:g} | {r.weight:g} | {r.probe_share:g} | {r.datasets} | "
                  f"{r.reference:.4f} | {r.regret:.4f} | {r.reference_trials:.1f} | "
                  f"{r.trials:.1f} | {r.better} | {r.worse} |"
                  for r in comparison.itertuples()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--knowledge-base", default=None,
                        help="a knowledge-base folder (default: the shipped one)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--weights", type=float, nargs="+", default=list(WEIGHTS))
    parser.add_argument("--budgets", type=float, nargs="+", default=list(BUDGETS),
                        help="budgets as multiples of the pool's median pick cost")
    parser.add_argument("--overhead", type=float, default=OVERHEAD,
                        help="seconds a trial costs besides fitting")
    parser.add_argument("--probe-shares", type=float, nargs="+", default=[0.0],
                        help="the sampler's probe_share (0: no probes; with others, 0 is "
                             "added as their reference)")
    parser.add_argument("--stop-share", type=float, default=0.0,
                        help="stop a pick after its first fold when it takes more than this "
                             "share of the time left, once a pick has finished (0: never)")
    parser.add_argument("--reference", default=None,
                        help="a results JSON of this benchmark to compare with, dataset "
                             "by dataset (its budgets, weights and probe shares)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir())
                                               / "automl_meta-metalearner-benchmark"),
                        help="trained meta-learners, shared with benchmarks/metalearner.py")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--name", default="cost_weight", help="stem of the result files")
    args = parser.parse_args(argv)
    if 0.0 not in args.weights:
        parser.error("--weights must include 0, the reference")
    if not 0.0 <= args.stop_share:
        parser.error("--stop-share must be 0 or more")
    reference = None if args.reference is None else json.loads(
        Path(args.reference).read_text())["records"]
    torch.set_num_threads(1)
    kb = KnowledgeBase.load(args.knowledge_base)
    start = time.perf_counter()
    shares = sorted({0.0, *args.probe_shares})
    records = run(kb, args.folds, Path(args.cache), args.weights, args.budgets,
                  args.overhead, shares, args.stop_share)
    summary = summarise(records)
    meta = {"command": " ".join(["python", "benchmarks/cost_weight.py",
                                 *(sys.argv[1:] if argv is None else argv)]),
            "folds": args.folds, "overhead": args.overhead, "probe_shares": shares,
            "stop_share": args.stop_share, "reference": args.reference,
            "counts": kb.counts(),
            "seconds": time.perf_counter() - start}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.name}.json").write_text(json.dumps(
        {**meta, "summary": summary.to_dict("records"), "records": records}, indent=1,
        default=float) + "\n")
    text = markdown(summary, meta, None if reference is None else compare(records, reference))
    (out / f"{args.name}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
