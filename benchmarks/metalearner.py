"""Warm-starting methods compared on held-out datasets, pool-based and grouped.

For each held-out dataset (K folds over dataset *groups*, so near-duplicates never
straddle train and test; every data-driven method learns from the other folds only),
each method picks, one after another, configurations from the pool already evaluated on
that dataset (every family x configuration with status ok). We report the normalized
regret ``(best_found - best) / (worst - best)`` of the pool's losses and the average rank
of the methods after 1, 3, 5, 10, 25 and 50 trials. The pools are the evaluations of the
knowledge base's own protocol; when it also holds a larger-sample extension, the
meta-learners train on that too (training folds only) and predict for the pool's rows.

    python benchmarks/metalearner.py --store build-store/kb.sqlite

writes benchmarks/results/metalearner.{json,md} and metalearner_regret.png. Trained
meta-learners and finished searches are cached (``--cache``): an interrupted run resumes,
and a change of the meta-learner's code redoes only the searches that depend on it.

Optuna samplers and the pool: TPE and GP search a static space, ``family`` (categorical)
plus unit coordinates ``u0..u7``, the space the meta-dataset design was drawn in
(:func:`automl_meta.spaces.from_unit`). A proposal is mapped to the unevaluated pool
configuration of the proposed family nearest to it in :func:`~automl_meta.spaces.encode`
space (a random remaining one when the family is used up), and the study is told the
*chosen* configuration's own coordinates and loss, so the sampler models what was
really observed (the proposal itself is marked failed, which samplers ignore).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import torch
from optuna.distributions import CategoricalDistribution, FloatDistribution
from tqdm.auto import tqdm

from automl_meta.data import dataset_groups
from automl_meta.evaluation.metrics import DEFAULT_METRIC, get_metric
from automl_meta.metadataset.knowledge_base import KnowledgeBase
from automl_meta.metadataset.store import Store
from automl_meta.metafeatures import MetaFeatureNormalizer
from automl_meta.metalearner import DEFAULT_METHOD, METHODS, MetaLearner
from automl_meta.recommendation import diverse_top, population_portfolio, startup_order
from automl_meta.sampler import (
    BETA,
    FALLBACK_AFTER,
    FALLBACK_SHARE,
    N_STARTUP,
    is_coverage_trial,
    is_fallback_trial,
)
from automl_meta.spaces import encode, from_unit, get_family

BUDGETS = (1, 3, 5, 10, 25, 50)
MIN_POOL = 8  # fewer evaluated configurations make a search trivial
#: Meta-training steps with --quick.
QUICK_STEPS = {"joint": 600, "reptile": 100, "maml": 50}
UNITS = 8  # the most hyperparameters of any family
KNN_DATASETS = 25  # auto-sklearn 1's number of meta-learned initial configurations
DEFAULT = DEFAULT_METHOD


@dataclasses.dataclass
class Pool:
    """The configurations evaluated on one dataset."""

    dataset: str
    task: str
    keys: list[tuple[str, int]]  # (family, config_id)
    families: list[str]
    params: list[dict]
    scores: np.ndarray  # the task's default metric
    losses: np.ndarray
    rows: float | None = None  # rows the configurations were evaluated on

    def regret_curve(self, picks: list[int], budget: int) -> np.ndarray:
        """Normalized regret after 1..budget trials (the pool's best once it is used up)."""
        best, worst = self.losses.min(), self.losses.max()
        found = np.minimum.accumulate(self.losses[picks])
        curve = np.full(budget, found[-1])
        curve[:len(found)] = found[:budget]
        return (curve - best) / (worst - best)


def pools_of(scores: pd.DataFrame, min_size: int) -> dict[str, Pool]:
    ok = scores[(scores["status"] == "ok") & scores["score"].notna()]
    pools = {}
    for name, group in ok.groupby("dataset", sort=True):
        task = group["task"].iloc[0]
        values = group["score"].to_numpy()
        losses = get_metric(DEFAULT_METRIC[task], task).loss(values)
        if len(group) >= min_size and np.ptp(losses) > 0:
            pools[name] = Pool(name, task, list(zip(group["family"], group["config_id"].astype(
                int), strict=True)), group["family"].tolist(),
                [json.loads(p) for p in group["params"]], values, losses,
                float(group["rows"].iloc[0]) if group["rows"].notna().all() else None)
    return pools


def base_protocol(kb: KnowledgeBase) -> KnowledgeBase:
    """The knowledge base's evaluations under its own protocol, without those of its
    extensions (larger samples of some datasets): the pools every method picks from.
    Meta-learners still train on everything the knowledge base holds."""
    max_rows = (kb.manifest.get("protocol") or {}).get("max_rows")
    if max_rows is None or "max_rows" not in kb.evaluations.columns:
        return kb
    manifest = {k: v for k, v in kb.manifest.items() if k != "extensions"}
    return KnowledgeBase(kb.datasets, kb.metafeatures, kb.configurations,
                         kb.evaluations[kb.evaluations["max_rows"] == max_rows], manifest,
                         kb.path)


def group_folds(datasets: pd.DataFrame, names: list[str], k: int, seed: int) -> list[list[str]]:
    """K folds of dataset names; near-duplicates (one group) always share a fold."""
    groups = dataset_groups(datasets).set_axis(datasets["name"]).loc[names]
    unique = np.random.default_rng(seed).permutation(sorted(groups.unique()))
    fold_of = {g: i % k for i, g in enumerate(unique)}
    return [[n for n in names if fold_of[groups[n]] == i] for i in range(k)]


def training_names(kb: KnowledgeBase, test: list[str]) -> list[str]:
    """What a meta-learner held out from ``test`` may learn from: the datasets of ``kb``
    with meta-features in none of the groups of ``test`` (near-duplicates go with them)."""
    groups = dataset_groups(kb.datasets).set_axis(kb.datasets["name"])
    test_groups = set(groups[test])
    with_features = set(kb.metafeatures["dataset"])
    return [n for n in sorted(kb.datasets["name"])
            if n in with_features and groups[n] not in test_groups]


# ---------------------------------------------------------------------------------------
# Methods: each returns the pool indices it picks, in order


def random_search(pool: Pool, budget: int, seed: int) -> list[int]:
    return list(np.random.default_rng(seed).permutation(len(pool.losses))[:budget])


def surrogate_search(learner: MetaLearner, features: pd.Series, pool: Pool, budget: int,
                     adapt: bool, adapt_steps: int | None = None,
                     portfolio: list[tuple[str, int]] = (),
                     fallback_share: float = FALLBACK_SHARE, seed: int = 0) -> list[int]:
    """What :class:`~automl_meta.sampler.MetaLearnedSampler` does, over the pool: the
    zero-shot start first (``N_STARTUP`` configurations ordered as
    :func:`~automl_meta.recommendation.startup_order` orders them: the learner's diverse
    top alternating with the training datasets' ``portfolio``, whose first configuration
    goes first unless the learner is confident of its own), then UCB over the remaining
    pool, where a coverage trial (:func:`~automl_meta.sampler.is_coverage_trial`) takes
    the best of the families not picked yet, and a hand-over trial
    (:func:`~automl_meta.sampler.is_fallback_trial`, ``fallback_share`` of the trials from
    ``FALLBACK_AFTER`` on) takes the pool configuration nearest to the proposal of a TPE
    study told every pick so far (:class:`PoolStudy`; the sampler's fallback,
    ``TPESampler(seed=seed)``); the surrogate re-adapts after each of the first 10
    trials, then every 5 (adaptation always restarts from the meta-learned weights)."""
    mean, std = learner.predict(features, pool.families, pool.params, task=pool.task,
                                rows=pool.rows)
    index = {key: i for i, key in enumerate(pool.keys)}
    k = min(N_STARTUP, budget)
    learned = diverse_top(list(zip(pool.families, pool.params, strict=True)), mean, k,
                          lambda f, p: encode(f, pool.task, p))
    picks = startup_order(learned, [index[key] for key in portfolio if key in index], mean,
                          std, k)
    tpe = None  # no hand-over: no TPE study to keep told
    if fallback_share:
        tpe = PoolStudy(pool, optuna.samplers.TPESampler(seed=seed), seed)
        for i in picks:
            tpe.observe(i)
    model = learner
    for t in range(len(picks), min(budget, len(pool.losses))):
        if adapt and (t <= 10 or t % 5 == 0):
            trials = [(pool.families[i], pool.params[i], pool.scores[i]) for i in picks]
            model = learner.adapt(features, trials, task=pool.task, steps=adapt_steps,
                                  rows=pool.rows)
        if tpe is not None and is_fallback_trial(t, FALLBACK_AFTER, fallback_share):
            picks.append(tpe.propose(picks))
            tpe.observe(picks[-1])
            continue
        remaining = [i for i in range(len(pool.losses)) if i not in picks]
        mean, std = model.predict(features, [pool.families[i] for i in remaining],
                                  [pool.params[i] for i in remaining], task=pool.task,
                                  rows=pool.rows)
        acquisition = mean + BETA * std
        if is_coverage_trial(t, N_STARTUP):
            tried = {pool.families[i] for i in picks}
            untried = np.array([pool.families[i] not in tried for i in remaining])
            if untried.any():
                acquisition = np.where(untried, acquisition, -np.inf)
        picks.append(remaining[int(np.argmax(acquisition))])
        if tpe is not None:
            tpe.observe(picks[-1])
    return picks


def _unit_coordinates(family: str, task: str, params: dict) -> list[float]:
    """Inverse of :func:`from_unit`, read off :func:`encode` (categoricals: cell centres)."""
    vector, position, coords = encode(family, task, params), 0, []
    for p in get_family(family).params(task):
        dist = p.distribution
        if isinstance(dist, CategoricalDistribution):
            block = vector[position:position + len(dist.choices)]
            coords.append((int(np.argmax(block)) + 0.5) / len(dist.choices)
                          if block.any() else 0.5)
            position += len(dist.choices)
        else:
            coords.append(float(vector[position]))
            position += 1
        position += p.condition is not None
    return coords + [0.5] * (UNITS - len(coords))


class PoolStudy:
    """An Optuna study over the pool (see the module docstring for the mapping): picks
    are told to it with :meth:`observe`, and :meth:`propose` maps the sampler's next
    proposal to an unpicked pool configuration."""

    def __init__(self, pool: Pool, sampler: optuna.samplers.BaseSampler, seed: int):
        self.pool, self.rng = pool, np.random.default_rng(seed)
        self.space = {"family": CategoricalDistribution(sorted(set(pool.families))),
                      **{f"u{j}": FloatDistribution(0.0, 1.0) for j in range(UNITS)}}
        self.study = optuna.create_study(sampler=sampler)

    def observe(self, i: int) -> None:
        pool = self.pool
        coords = _unit_coordinates(pool.families[i], pool.task, pool.params[i])
        self.study.add_trial(optuna.trial.create_trial(
            params={"family": pool.families[i], **{f"u{j}": c for j, c in enumerate(coords)}},
            distributions=self.space, value=float(pool.losses[i])))

    def propose(self, picks: list[int]) -> int:
        pool = self.pool
        trial = self.study.ask(self.space)
        family = trial.params["family"]
        proposal = from_unit(family, pool.task, np.array(
            [trial.params[f"u{j}"] for j in range(len(get_family(family).params(pool.task)))]))
        self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        candidates = [i for i in range(len(pool.losses))
                      if pool.families[i] == family and i not in picks]
        if not candidates:
            return int(self.rng.choice([i for i in range(len(pool.losses)) if i not in picks]))
        target = encode(family, pool.task, proposal)
        distances = [np.linalg.norm(encode(family, pool.task, pool.params[i]) - target)
                     for i in candidates]
        return candidates[int(np.argmin(distances))]


def optuna_search(pool: Pool, budget: int, sampler: optuna.samplers.BaseSampler,
                  seed: int, first: list[int] = ()) -> list[int]:
    """Pool-restricted Optuna search (:class:`PoolStudy`)."""
    study, picks = PoolStudy(pool, sampler, seed), list(first[:budget])
    for i in picks:
        study.observe(i)
    while len(picks) < min(budget, len(pool.losses)):
        picks.append(study.propose(picks))
        study.observe(picks[-1])
    return picks


def regret_matrix(pools: list[Pool]) -> pd.DataFrame:
    """Normalized regret of each (family, config_id) on each training dataset (NaN: not run)."""
    rows = {p.dataset: pd.Series((p.losses - p.losses.min()) / np.ptp(p.losses),
                                 index=pd.MultiIndex.from_tuples(p.keys)) for p in pools}
    return pd.DataFrame(rows).T


def follow(pool: Pool, order: list[tuple[str, int]], budget: int,
           fallback: list[tuple[str, int]]) -> list[int]:
    """Pool indices of ``order`` (skipping what the pool lacks), then of ``fallback``."""
    index = {k: i for i, k in enumerate(pool.keys)}
    picks = list(dict.fromkeys(index[k] for k in [*order, *fallback] if k in index))
    return (picks + [i for i in range(len(pool.keys)) if i not in picks])[:budget]


def knn_first(pool: Pool, embedding: np.ndarray, train: list[Pool],
              train_embeddings: np.ndarray) -> list[int]:
    """Best configuration of each of the nearest training datasets (L1 on scaled
    meta-features, same task), in order of distance (auto-sklearn 1)."""
    same = [j for j, p in enumerate(train) if p.task == pool.task]
    distances = np.abs(train_embeddings[same] - embedding).sum(axis=1)
    index = {k: i for i, k in enumerate(pool.keys)}
    picks: list[int] = []
    for j in np.asarray(same)[np.argsort(distances, kind="stable")][:KNN_DATASETS]:
        best = train[j].keys[int(np.argmin(train[j].losses))]
        if best in index and index[best] not in picks:
            picks.append(index[best])
    return picks


# ---------------------------------------------------------------------------------------
# The protocol


def trained(kb: KnowledgeBase, method: str, steps: int | None, train_names: list[str],
            cache: Path, seed: int) -> MetaLearner:
    """A meta-learner trained on ``train_names``, from the cache when already there."""
    key = _digest([method, steps, seed, sorted(train_names), kb.counts(), learner_version()])
    folder = cache / f"{method}-{key}"
    if (folder / "config.json").is_file():
        return MetaLearner.load(folder, device="cpu")
    learner = MetaLearner(method, steps=steps, seed=seed, device="cpu").fit(
        kb, datasets=train_names)
    learner.save(folder)
    return learner


def learner_version() -> str:
    """A digest of the meta-learner's source: trained meta-learners are reused while it
    stays the same."""
    import automl_meta

    root = Path(automl_meta.__file__).parent
    return _digest([f.read_text() for f in sorted((root / "metalearner").glob("*.py"))])


def code_version() -> str:
    """A digest of the meta-learner's source and of what drives its searches (sampler,
    recommendation): results computed with other code are not reused. This benchmark's
    own simulation of the searches is keyed apart (:func:`run`), so that editing it
    redoes its surrogate searches only, not the end-to-end runs keyed on this."""
    import automl_meta

    root = Path(automl_meta.__file__).parent
    files = sorted([*(root / "metalearner").glob("*.py"), root / "sampler.py",
                    root / "recommendation.py"])
    return _digest([f.read_text() for f in files])


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, default=str).encode()).hexdigest()[:16]


def _read_journal(path: Path) -> dict[str, list[dict]]:
    """Records by dataset of an earlier, interrupted run with the same settings."""
    done = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                finished = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by the interruption
                continue
            done[finished[0]["dataset"]] = finished
    return done


def measure(pool: Pool, fold: int, runs: list[tuple]) -> list[dict]:
    """One record per method of ``runs`` ((method, search, args, kwargs) tuples; a method
    listed several times, once per seed, gets its mean regret curve)."""
    curves: dict[str, list[np.ndarray]] = {}
    seconds: dict[str, float] = {}
    for method, search, args, kwargs in runs:
        began = time.process_time()
        picks = search(*args, **kwargs)
        seconds[method] = seconds.get(method, 0.0) + time.process_time() - began
        curves.setdefault(method, []).append(pool.regret_curve(picks, max(BUDGETS)))
    return [{"dataset": pool.dataset, "task": pool.task, "fold": fold,
             "pool_size": len(pool.losses), "method": method,
             "regret": np.mean(c, axis=0).tolist(),
             "cpu_seconds_per_run": seconds[method] / len(c)}
            for method, c in curves.items()]


def run(kb: KnowledgeBase, folds: int, seeds: int, quick: bool, gp_every: int, cache: Path,
        log=print, progress: bool = True) -> dict:
    base = base_protocol(kb)
    scores = base.scores()
    metafeatures = kb.metafeatures.drop_duplicates("dataset", keep="last").set_index("dataset")
    every_pool = {n: p for n, p in pools_of(scores, 2).items() if n in metafeatures.index}
    pools = {n: p for n, p in every_pool.items() if len(p.losses) >= MIN_POOL}
    names = sorted(pools)
    fold_names = group_folds(kb.datasets, names, folds, seed=0)
    if quick:  # a third of each fold's test datasets
        fold_names = [f[::3] for f in fold_names]
    steps = QUICK_STEPS if quick else {m: None for m in METHODS}
    cache.mkdir(parents=True, exist_ok=True)
    # Two journals: the baselines depend on the knowledge base and the settings only, the
    # surrogate searches also on the meta-learner's code, so a change there redoes them
    # and nothing else.
    settings = [base.counts(), folds, seeds, quick, BUDGETS]
    journals = {
        "baselines": cache / f"baselines-{_digest([*settings, gp_every])}.jsonl",
        "surrogates": cache / ("surrogates-" + _digest([*settings, DEFAULT, code_version(),
                                                        Path(__file__).read_text()])
                               + ".jsonl")}
    done = {part: _read_journal(path) for part, path in journals.items()}
    records = []
    for k, test in enumerate(fold_names):
        train_names = training_names(kb, test)
        start = time.perf_counter()
        todo = [n for n in test if any(n not in done[part] for part in journals)]
        learners = scratch = {}
        if any(n not in done["surrogates"] for n in test):
            learners = {m: trained(kb, m, steps[m], train_names, cache, seed=0)
                        for m in METHODS}
            scratch = {s: MetaLearner(steps=0, seed=s, device="cpu").fit(
                kb, datasets=train_names) for s in range(seeds)}
        log(f"fold {k + 1}/{len(fold_names)}: {len(train_names)} training datasets, "
            f"{len(test)} test datasets ({len(todo)} to run); meta-learners ready in "
            f"{time.perf_counter() - start:.0f} s")
        train_pools = [every_pool[n] for n in train_names if n in every_pool]
        normalizer = MetaFeatureNormalizer().fit(metafeatures.loc[[p.dataset for p in
                                                                    train_pools]])
        train_embeddings = normalizer.transform(metafeatures.loc[[p.dataset for p in
                                                                  train_pools]])
        by_task = {t: regret_matrix([p for p in train_pools if p.task == t])
                   for t in sorted({p.task for p in train_pools})}
        train_scores = base.subset(train_names).scores()
        portfolios = {t: population_portfolio(train_scores, t, max(BUDGETS))
                      for t in by_task}
        fallbacks = {t: list(r.mean().sort_values().index) for t, r in by_task.items()}
        for position, name in enumerate(tqdm(test, desc=f"fold {k + 1}", unit="dataset",
                                             disable=not progress)):
            pool, features = pools[name], metafeatures.loc[name]
            budget = min(max(BUDGETS), len(pool.losses))

            parts = {}
            if name not in done["surrogates"]:
                portfolio = portfolios[pool.task]
                runs = [(f"meta-learner ({m})", surrogate_search,
                         (learners[m], features, pool, budget),
                         {"adapt": True, "portfolio": portfolio}) for m in METHODS]
                runs.append((f"meta-learner ({DEFAULT}) without hand-over", surrogate_search,
                             (learners[DEFAULT], features, pool, budget),
                             {"adapt": True, "portfolio": portfolio, "fallback_share": 0.0}))
                runs.append((f"zero-shot only ({DEFAULT})", surrogate_search,
                             (learners[DEFAULT], features, pool, budget),
                             {"adapt": False, "portfolio": portfolio, "fallback_share": 0.0}))
                runs += [("surrogate from scratch", surrogate_search,
                          (scratch[s], features, pool, budget),
                          {"adapt": True, "adapt_steps": 30}) for s in range(seeds)]
                parts["surrogates"] = measure(pool, k, runs)
            if name not in done["baselines"]:
                warm = knn_first(pool, normalizer.transform(features), train_pools,
                                 train_embeddings)
                runs = [("greedy portfolio", follow,
                         (pool, portfolios[pool.task], budget, fallbacks[pool.task]), {}),
                        ("best single default", follow,
                         (pool, portfolios[pool.task][:1], 1, fallbacks[pool.task]), {})]
                for s in range(seeds):
                    runs.append(("random search", random_search, (pool, budget, s), {}))
                    runs.append(("Optuna TPE", optuna_search, (pool, budget, optuna.samplers
                                 .TPESampler(seed=s, multivariate=True), s), {}))
                    if position % gp_every == 0:  # a GP ask costs ~1 s with 10 trials
                        runs.append(("Optuna GP", optuna_search,
                                     (pool, budget, optuna.samplers.GPSampler(seed=s), s), {}))
                    runs.append(("kNN warm start + TPE", optuna_search, (pool, budget, optuna
                                 .samplers.TPESampler(seed=s, multivariate=True), s),
                                 {"first": warm}))
                parts["baselines"] = measure(pool, k, runs)
            for part, finished in parts.items():
                with journals[part].open("a") as f:
                    f.write(json.dumps(finished) + "\n")
                done[part][name] = finished
            records.extend(done["surrogates"][name] + done["baselines"][name])
        log(f"fold {k + 1} done in {time.perf_counter() - start:.0f} s")
    return {"records": records, "n_datasets": len(names),
            "n_test_datasets": sum(len(f) for f in fold_names)}


def summarise(records: list[dict]) -> pd.DataFrame:
    """Mean normalized regret and average rank per method and budget."""
    rows = []
    frame = pd.DataFrame(records)
    for budget in BUDGETS:
        at = frame.assign(regret=[r[budget - 1] for r in frame["regret"]])
        if budget > 1:  # a one-trial reference
            at = at[at["method"] != "best single default"]
        table = at.pivot(index="dataset", columns="method", values="regret")
        ranks = table.rank(axis=1, method="average").mean()
        for method in table.columns:
            rows.append({"method": method, "budget": budget,
                         "regret": float(table[method].mean()), "rank": float(ranks[method]),
                         "datasets": int(table[method].notna().sum())})
    return pd.DataFrame(rows)


def targets(summary: pd.DataFrame) -> list[str]:
    """The project's targets for the default meta-learner, each marked met or missed."""
    regret = summary.pivot(index="method", columns="budget", values="regret")
    rank = summary.pivot(index="method", columns="budget", values="rank")
    ours = f"meta-learner ({DEFAULT})"
    best = [b for b in BUDGETS if rank[b].idxmin() == ours]
    lines = [
        (f"best average rank at every budget: {'met' if len(best) == len(BUDGETS) else 'missed'}"
         f" (best at {best or 'none'}; " + ", ".join(
             f"{b}: {rank[b].idxmin()}" for b in BUDGETS if b not in best) + ")"),
        (f"regret at 10 trials ({regret.loc[ours, 10]:.3f}) no worse than TPE at 50 "
         f"({regret.loc['Optuna TPE', 50]:.3f}): "
         f"{'met' if regret.loc[ours, 10] <= regret.loc['Optuna TPE', 50] else 'missed'}"),
    ]
    for other in ("best single default", "kNN warm start + TPE"):
        met = regret.loc[ours, 1] < regret.loc[other, 1]
        lines.append(f"better than {other} at 1 trial (regret {regret.loc[ours, 1]:.3f} vs "
                     f"{regret.loc[other, 1]:.3f}): {'met' if met else 'missed'}")
    ablation = rank.loc[[f"meta-learner ({m})" for m in METHODS]].mean(axis=1)
    lines.append("ablation, mean rank over budgets: " + ", ".join(
        f"{m} {v:.2f}" for m, v in ablation.sort_values().items()))
    return lines


def markdown(summary: pd.DataFrame, meta: dict) -> str:
    regret = summary.pivot(index="method", columns="budget", values="regret")
    rank = summary.pivot(index="method", columns="budget", values="rank")
    order = rank.mean(axis=1).sort_values().index
    lines = [
        "# Meta-learner benchmark",
        "",
        "Reproduce with:",
        "",
        "```",
        meta["command"],
        "```",
        "",
        f"Knowledge base at run time: {meta['counts']['datasets']} datasets, "
        f"{meta['counts']['evaluations']} evaluations ({meta['configs_per_dataset']} "
        f"configurations per dataset on average); {meta['n_datasets']} datasets with a pool "
        f"of at least {MIN_POOL} configurations and meta-features, "
        f"{meta['n_test_datasets']} of them held out once each in {meta['folds']} grouped "
        f"folds; {meta['seeds']} seed(s) for stochastic methods; {meta['seconds']:.0f} s.",
        "Once a pool is used up a method's regret is the pool's best (0), so budgets at or "
        "above the pool size do not separate methods.",
        "",
        *([f"Meta-features were read from `{meta['metafeatures']}` (computed with "
           "`MetaFeatureExtractor()` defaults on each full dataset, as the builder does), "
           "the store having none yet.", ""] if meta["metafeatures"] else []),
        "## Targets",
        "",
        *[f"- {line}" for line in targets(summary)],
        "",
        "## Normalized regret (mean over held-out datasets; lower is better)",
        "",
        _table(regret.loc[order], "{:.3f}"),
        "",
        "## Average rank (1 = best)",
        "",
        _table(rank.loc[order], "{:.2f}"),
        "",
        "`best single default` is a one-trial reference (ranked at 1 trial only). A method "
        "run on fewer datasets (see below) is ranked among the methods on those datasets.",
        "",
        "CPU seconds per search of 50 trials (median over datasets; one core): " + ", ".join(
            f"{m} {v:.2f}" for m, v in meta["cpu_seconds"].items()) + ".",
        "",
        "Datasets per method: " + ", ".join(
            f"{m} {n}" for m, n in summary.groupby("method")["datasets"].max().items()) + ".",
        "",
        "![regret vs trials](metalearner_regret.png)",
        "",
    ]
    return "\n".join(lines)


def _table(frame: pd.DataFrame, fmt: str) -> str:
    head = "| method | " + " | ".join(str(b) for b in frame.columns) + " |"
    rule = "|---|" + "---:|" * len(frame.columns)
    body = ["| " + method + " | " + " | ".join("" if pd.isna(v) else fmt.format(v)
                                                for v in row) + " |"
            for method, row in frame.iterrows()]
    return "\n".join([head, rule, *body])


def plot(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, rows in summary.groupby("method"):
        if len(rows) > 1:
            ax.plot(rows["budget"], rows["regret"], marker="o", label=method,
                    linewidth=2.5 if method.startswith("meta-learner") else 1.2)
    ax.set_xscale("log")
    ax.set_xticks(BUDGETS, [str(b) for b in BUDGETS])
    ax.set_xlabel("trials")
    ax.set_ylabel("mean normalized regret")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--store", help="a builder's SQLite store (read only)")
    source.add_argument("--knowledge-base", help="an exported knowledge-base folder")
    parser.add_argument("--metafeatures", help="Parquet of raw meta-features (dataset "
                        "column + features), for a store whose meta-features are not in yet")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--gp-every", type=int, default=10, metavar="N",
                        help="run Optuna GP on every N-th test dataset only (it is slow on "
                        "large pools; the tables rank it on those datasets)")
    parser.add_argument("--quick", action="store_true",
                        help="a third of the test datasets, shorter meta-training")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir())
                                               / "automl_meta-metalearner-benchmark"))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # small networks and GPs: threads only contend
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    kb = (KnowledgeBase.from_store(Store(args.store)) if args.store
          else KnowledgeBase.load(args.knowledge_base))
    if args.metafeatures:
        kb = dataclasses.replace(kb, metafeatures=pd.read_parquet(args.metafeatures))
    if kb.metafeatures.empty:
        raise SystemExit("the knowledge base has no meta-features: pass --metafeatures")
    start = time.perf_counter()
    result = run(kb, args.folds, args.seeds, args.quick, args.gp_every, Path(args.cache))
    summary = summarise(result["records"])
    counts = kb.counts()
    meta = {"command": " ".join(["python", "benchmarks/metalearner.py", *sys.argv[1:]]),
            "counts": counts, "metafeatures": args.metafeatures, "folds": args.folds,
            "seeds": args.seeds, "quick": args.quick, "gp_every": args.gp_every,
            "configs_per_dataset": round(counts["evaluations"] / max(counts["datasets"], 1),
                                         1),
            "n_datasets": result["n_datasets"], "n_test_datasets": result["n_test_datasets"],
            "cpu_seconds": pd.DataFrame(result["records"]).groupby("method")[
                "cpu_seconds_per_run"].median().sort_values().round(3).to_dict(),
            "seconds": time.perf_counter() - start}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metalearner.json").write_text(json.dumps(
        {**meta, "budgets": BUDGETS, "summary": summary.to_dict("records"),
         "per_dataset": result["records"]}, indent=1) + "\n")
    (out / "metalearner.md").write_text(markdown(summary, meta))
    plot(summary, out / "metalearner_regret.png")
    print(markdown(summary, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
