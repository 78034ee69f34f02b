"""MetaLearnedSampler against Optuna TPE and random search, in real studies on held-out data.

Two measurements:

1. Overhead: the sampler's own time per trial as a study grows (an objective that costs
   nothing, so a trial's wall time is the sampler's): over the 10 trials before the
   100th, the 300th and the 1,000th, median over ``--repeats`` studies, next to TPE and
   random search measured in the same process.
2. Search quality: for datasets held out from meta-training (K folds over dataset groups,
   near-duplicates together; the meta-learner and its knowledge base see only the other
   folds), 20-trial studies over every model family with each sampler; a trial is a
   cross-validated evaluation (:func:`automl_meta.evaluation.evaluate`, the knowledge
   base's protocol: 2 folds on at most 1,000 rows, 30 s limit). We report each study's
   best value, the mean rank of the samplers per dataset, and on how many datasets the
   meta-learned sampler beats each baseline (mean over seeds).

    python benchmarks/sampler.py --knowledge-base metadata

writes benchmarks/results/sampler.{json,md}. Every evaluation is memoised in
``--cache`` (the same configuration on the same dataset is evaluated once, whichever
sampler proposes it) and finished studies are kept there, so a killed run resumes. Both
are keyed on the code they depend on (:func:`evaluation_version`, :func:`learned_version`):
what other code made is done again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).parent))
from end_to_end import evaluation_version, features_version  # noqa: E402
from metalearner import (  # noqa: E402
    DEFAULT,
    _digest,
    code_version,
    group_folds,
    trained,
    training_names,
)

from automl_meta.evaluation import evaluate  # noqa: E402
from automl_meta.evaluation.metrics import DEFAULT_METRIC, get_metric  # noqa: E402
from automl_meta.metadataset.knowledge_base import KnowledgeBase  # noqa: E402
from automl_meta.metadataset.sources import from_manifest  # noqa: E402
from automl_meta.metafeatures import MetaFeatureExtractor  # noqa: E402
from automl_meta.sampler import MetaLearnedSampler, config_from_params  # noqa: E402
from automl_meta.spaces import FAMILIES, suggest  # noqa: E402

SAMPLERS = ("meta-learned", "tpe", "random")
MANIFEST = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "manifest.csv"
OVERHEAD_TRIALS = (100, 300, 1000)  # study lengths; the overhead is taken over the
OVERHEAD_TAIL = 10  # trials before each
MAX_ROWS = 1000  # a trial's rows: the knowledge base's protocol


def make_sampler(name: str, seed: int, **meta) -> optuna.samplers.BaseSampler:
    """A fresh sampler; ``meta`` are MetaLearnedSampler's arguments."""
    if name == "meta-learned":
        return MetaLearnedSampler(seed=seed, **meta)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


# ---------------------------------------------------------------------------------------
# 1. Overhead


def overhead(meta: dict, task: str, repeats: int) -> dict[str, dict[str, list[float]]]:
    """Median wall and CPU seconds per trial over the :data:`OVERHEAD_TAIL` trials before
    each length of :data:`OVERHEAD_TRIALS`, with a free objective (the CPU time is this
    process's: on a shared machine the wall time includes waiting). One study per repeat
    and sampler runs to the longest length. The meta-learned sampler also runs with
    ``time_left`` (an hour left, as under an estimator's budget): its cost model is then
    calibrated at every trial."""

    def objective(trial: optuna.Trial) -> float:
        family = trial.suggest_categorical("family", list(FAMILIES))
        params = suggest(trial, family, task, prefix=f"{family}__")
        return float(hash(json.dumps(params, sort_keys=True, default=str)) % 1000) / 1000

    variants = {name: (name, {}) for name in SAMPLERS}
    variants[f"{SAMPLERS[0]}, time_left"] = (SAMPLERS[0], {"time_left": lambda: 3600.0})
    out = {}
    for label, (name, extra) in variants.items():
        wall, cpu = [], []
        for seed in range(repeats):
            study = optuna.create_study(sampler=make_sampler(name, seed, **meta, **extra))
            wall.append([])
            cpu.append([])
            for length in OVERHEAD_TRIALS:
                study.optimize(objective, n_trials=length - OVERHEAD_TAIL - len(study.trials))
                start, start_cpu = time.perf_counter(), time.process_time()
                study.optimize(objective, n_trials=OVERHEAD_TAIL)
                wall[-1].append((time.perf_counter() - start) / OVERHEAD_TAIL)
                cpu[-1].append((time.process_time() - start_cpu) / OVERHEAD_TAIL)
        out[label] = {"wall": np.median(wall, axis=0).tolist(),
                      "cpu": np.median(cpu, axis=0).tolist()}
    return out


# ---------------------------------------------------------------------------------------
# 2. Search quality on held-out datasets


class Objective:
    """Cross-validated loss of a trial's configuration, memoised on disk."""

    def __init__(self, dataset, memo: Path):
        self.dataset = dataset
        self.metric = get_metric(DEFAULT_METRIC[dataset.task], dataset.task)
        self.memo = memo
        self.known: dict[str, float | None] = {}
        if memo.is_file():
            for line in memo.read_text().splitlines():
                row = json.loads(line)
                self.known[row["key"]] = row["loss"]

    def __call__(self, trial: optuna.Trial) -> float:
        family = trial.suggest_categorical("family", list(FAMILIES))
        params = suggest(trial, family, self.dataset.task, prefix=f"{family}__")
        key = json.dumps([family, params], sort_keys=True, default=str)
        if key not in self.known:
            result = evaluate(family, params, self.dataset, self.metric.name, cv=2,
                              time_limit=30, max_rows=MAX_ROWS)
            loss = float(self.metric.loss(result.score())) if result.ok else None
            self.known[key] = loss
            with self.memo.open("a") as fh:
                fh.write(json.dumps({"key": key, "loss": loss}) + "\n")
        if self.known[key] is None:
            raise optuna.TrialPruned("evaluation failed")  # ignored by every sampler
        return self.known[key]


def learned_version() -> str:
    """A digest of what the meta-learned sampler's choices depend on besides the
    evaluations: the meta-learner, sampler and recommendation code, and the meta-features."""
    return _digest([code_version(), features_version()])


def current(records: Iterable[dict], version: str, evaluation: str) -> list[dict]:
    """The finished studies that stay valid: made with the same evaluation code, and for
    the meta-learned sampler also the same :func:`learned_version`. A version a record does
    not carry counts as another."""
    return [r for r in records if r.get("evaluation") == evaluation
            and (r["sampler"] != "meta-learned" or r.get("code") == version)]


def held_out(kb: KnowledgeBase, folds: int, fold: int, max_datasets: int, seed: int
             ) -> tuple[list[str], list[str]]:
    """(training dataset names, test dataset names) of one fold over dataset groups."""
    names = sorted(set(kb.datasets["name"]) & set(kb.metafeatures["dataset"]))
    test = group_folds(kb.datasets, names, folds, seed=0)[fold]
    train = training_names(kb, test)
    rng = np.random.default_rng(seed)
    return train, sorted(rng.permutation(test)[:max_datasets].tolist())


def study_best(dataset, objective: Objective, name: str, seed: int, n_trials: int,
               meta: dict) -> dict:
    study = optuna.create_study(sampler=make_sampler(name, seed, **meta))
    start = time.perf_counter()
    study.optimize(objective, n_trials=n_trials)
    done = [t for t in study.trials if t.value is not None]
    curve = np.minimum.accumulate([t.value for t in done]).tolist() if done else []
    return {"dataset": dataset.name, "task": dataset.task, "sampler": name, "seed": seed,
            "best_loss": curve[-1] if curve else None, "curve": curve,
            "best_family": config_from_params(study.best_trial.params)[0] if done else None,
            "seconds": time.perf_counter() - start}


def summarise(records: list[dict]) -> tuple[pd.DataFrame, dict]:
    frame = pd.DataFrame(records)
    best = frame.groupby(["dataset", "sampler"])["best_loss"].mean().unstack()
    ranks = best.rank(axis=1, method="average")
    summary = {"mean_rank": ranks.mean().round(2).to_dict(), "wins": {}}
    ours = best["meta-learned"]
    for other in (s for s in SAMPLERS if s != "meta-learned"):
        diff = ours - best[other]
        tie = diff.abs() <= 1e-4 * best[other].abs().clip(lower=1e-12)
        summary["wins"][other] = {"wins": int(((diff < 0) & ~tie).sum()),
                                  "ties": int(tie.sum()),
                                  "losses": int(((diff > 0) & ~tie).sum())}
    return best, summary


def markdown(best: pd.DataFrame, summary: dict, meta: dict) -> str:
    n = len(best)
    lines = [
        "# MetaLearnedSampler against TPE and random search",
        "",
        f"Command: `{meta['command']}`",
        "",
        "## Overhead per trial as a study grows (free objective)",
        "",
        f"Wall ms per trial over the {OVERHEAD_TAIL} trials before each study length, "
        f"median over {meta['repeats']} studies per sampler (load average "
        f"{meta['load'][0]:.1f} at the start); in brackets, the ratio to TPE's.",
        "",
        "| sampler | " + " | ".join(f"{n} trials" for n in OVERHEAD_TRIALS) + " |",
        "|---|" + "---|" * len(OVERHEAD_TRIALS),
        *(f"| {s} | " + " | ".join(
            f"{1000 * w:.1f} ({w / t:.2f})"
            for w, t in zip(v["wall"], meta["overhead"]["tpe"]["wall"], strict=True)) + " |"
          for s, v in meta["overhead"].items()),
        "",
        "CPU ms per trial: " + "; ".join(
            f"{s} " + ", ".join(f"{1000 * c:.1f}" for c in v["cpu"])
            for s, v in meta["overhead"].items()) + ".",
        "",
        f"## {meta['n_trials']}-trial studies on {n} held-out datasets",
        "",
        f"Fold {meta['fold']} of {meta['folds']} over dataset groups; the meta-learner was "
        f"trained on {meta['n_train']} datasets of the other folds. Seeds "
        f"{list(range(meta['seeds']))}; best loss (1 - ROC AUC, or RMSE) averaged over "
        "seeds; rank 1 is best.",
        "",
        "| sampler | mean rank |",
        "|---|---|",
        *(f"| {s} | {r:.2f} |" for s, r in sorted(summary["mean_rank"].items(),
                                                 key=lambda kv: kv[1])),
        "",
        "| meta-learned against | wins | ties | losses |",
        "|---|---|---|---|",
        *(f"| {s} | {w['wins']} | {w['ties']} | {w['losses']} |"
          for s, w in summary["wins"].items()),
        "",
        "| dataset | " + " | ".join(SAMPLERS) + " |",
        "|---|" + "---|" * len(SAMPLERS),
        *(f"| {name} | " + " | ".join(f"{row[s]:.4f}" for s in SAMPLERS) + " |"
          for name, row in best.iterrows()),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--knowledge-base", default=None,
                        help="an exported knowledge-base folder (default: the shipped one)")
    parser.add_argument("--manifest", default=str(MANIFEST),
                        help="where the datasets' files are (default: %(default)s)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--fold", type=int, default=0, help="the held-out fold")
    parser.add_argument("--max-datasets", type=int, default=20,
                        help="a seeded sample of the fold's datasets")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="overhead runs per sampler")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir())
                                               / "automl_meta-metalearner-benchmark"))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    load = os.getloadavg()
    kb = KnowledgeBase.load(args.knowledge_base)
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    train, test = held_out(kb, args.folds, args.fold, args.max_datasets, seed=0)
    learner = trained(kb, DEFAULT, None, train, cache, seed=0)
    specs = {spec.name: spec for spec in from_manifest(args.manifest)}
    # Meta-learned studies depend on the learner: one file per meta-training method, and
    # those run with other meta-learner, sampler or meta-feature code are done again; every
    # study and evaluation made with other evaluation code too.
    finished = cache / f"sampler-studies-fold{args.fold}-{args.trials}-{DEFAULT}.jsonl"
    version, evaluation = learned_version(), evaluation_version()
    lines = finished.read_text().splitlines() if finished.is_file() else []
    records = current(map(json.loads, lines), version, evaluation)
    done = {(r["dataset"], r["sampler"], r["seed"]) for r in records}

    seen = kb.subset(train)  # recommendations and neighbours never see the test folds
    extractor = MetaFeatureExtractor()
    first = specs[test[0]].load()
    timings = overhead({"learner": learner, "knowledge_base": seen, "task": first.task,
                        "metafeatures": extractor.extract(first.X, first.y, task=first.task),
                        "rows": min(first.n_rows, MAX_ROWS)},
                       first.task, args.repeats)
    print("overhead per trial (s):", timings)
    for i, name in enumerate(test, 1):
        dataset = specs[name].load()
        objective = Objective(dataset, cache / f"memo-{name}-{evaluation}.jsonl")
        meta = {"learner": learner, "knowledge_base": seen, "task": dataset.task,
                "metafeatures": extractor.extract(dataset.X, dataset.y, task=dataset.task),
                "rows": min(dataset.n_rows, MAX_ROWS)}
        for seed in range(args.seeds):
            for sampler in SAMPLERS:
                if (dataset.name, sampler, seed) not in done:
                    record = study_best(dataset, objective, sampler, seed, args.trials, meta)
                    record["evaluation"] = evaluation
                    if sampler == "meta-learned":
                        record["code"] = version
                    records.append(record)
                    with finished.open("a") as fh:
                        fh.write(json.dumps(record) + "\n")
        print(f"[{i}/{len(test)}] {name} done")
    best, summary = summarise([r for r in records if r["dataset"] in set(test)])
    meta = {"command": " ".join(["python", "benchmarks/sampler.py", *sys.argv[1:]]),
            "overhead": timings, "n_trials": args.trials, "fold": args.fold,
            "folds": args.folds, "seeds": args.seeds, "n_train": len(train),
            "repeats": args.repeats, "load": load,
            "test_datasets": test, "counts": kb.counts()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sampler.json").write_text(json.dumps(
        {**meta, "summary": summary, "records": records}, indent=1) + "\n")
    (out / "sampler.md").write_text(markdown(best, summary, meta))
    print(markdown(best, summary, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
