"""Two worker processes tune one study on one SQLite storage with MetaLearnedSampler.

Each worker opens the same study with its own sampler; the zero-shot portfolio is shared
out by trial number, every decision is recorded on its trial, and no configuration is run
twice. Start more workers the same way (on PostgreSQL for many: pass its URL instead).
Each worker fits on one thread: with OpenMP models (HistGradientBoosting, LightGBM)
using every core in every worker, the workers' threads would wait on each other.

    python examples/two_workers_sqlite.py [--trials 6] [--storage sqlite:///study.db]
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
from pathlib import Path

import optuna
from threadpoolctl import threadpool_limits

from automl_meta import MetaLearnedSampler, load_dataset
from automl_meta.evaluation import evaluate
from automl_meta.sampler import config_from_params
from automl_meta.spaces import FAMILIES, suggest

DATA = Path(__file__).parent / "data" / "credit_g.csv"
FAST_FAMILIES = [f for f in FAMILIES if f not in ("svm", "mlp")]  # quick to fit


def worker(storage: str, n_trials: int, seed: int) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ds = load_dataset(DATA, target="target")

    def objective(trial: optuna.Trial) -> float:
        family = trial.suggest_categorical("family", FAST_FAMILIES)
        params = suggest(trial, family, ds.task, prefix=f"{family}__")
        result = evaluate(family, params, ds, metric="roc_auc", cv=3)
        if result.status != "ok":  # recorded as failed; the study goes on
            raise RuntimeError(f"{family} {result.status}: {result.error}")
        return result.score()

    sampler = MetaLearnedSampler(ds.X, ds.y, families=FAST_FAMILIES, seed=seed)
    study = optuna.load_study(study_name="credit-g", storage=storage, sampler=sampler)
    with threadpool_limits(limits=1):
        study.optimize(objective, n_trials=n_trials, catch=(RuntimeError,))


def main(storage: str, n_trials: int) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name="credit-g", storage=storage, direction="maximize",
                                load_if_exists=True)
    workers = [multiprocessing.Process(target=worker, args=(storage, n_trials, seed))
               for seed in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
        if w.exitcode != 0:
            raise SystemExit(f"a worker failed (exit code {w.exitcode})")
    configs = [config_from_params(t.params) for t in study.trials]
    for t in study.trials:
        source = t.system_attrs.get("automl_meta:config", {}).get("source")
        value = f"{t.value:.4f}" if t.value is not None else t.state.name.lower()
        print(f"trial {t.number:2d}  {source:11s}  {t.params['family']:22s}  {value}")
    print(f"{len(study.trials)} trials by 2 workers, {len({str(c) for c in configs})} "
          f"distinct configurations; best ROC AUC {study.best_value:.4f}")
    return study


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=6, help="trials per worker")
    parser.add_argument("--storage", help="default: a temporary SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        main(args.storage or f"sqlite:///{Path(tmp) / 'study.db'}", args.trials)
