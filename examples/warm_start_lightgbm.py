"""Warm-start your own LightGBM study with the shipped knowledge base.

Any Optuna objective whose parameters use automl_meta's names (``family`` and
``<family>__<name>``, see :func:`automl_meta.spaces.suggest`) can be warm-started:
:func:`automl_meta.warm_start_study` enqueues the configurations the meta-learner expects
to do well on this dataset, then any sampler (TPE here) carries on from them.

    python examples/warm_start_lightgbm.py [--trials 20]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import optuna
from sklearn.model_selection import StratifiedKFold, cross_val_score

from automl_meta import load_dataset, warm_start_study
from automl_meta.spaces import build_pipeline, suggest

DATA = Path(__file__).parent / "data" / "credit_g.csv"


def main(n_trials: int, n_configs: int) -> optuna.Study:
    ds = load_dataset(DATA, target="target")
    folds = StratifiedKFold(3, shuffle=True, random_state=0)

    def objective(trial: optuna.Trial) -> float:
        family = trial.suggest_categorical("family", ["lightgbm"])
        params = suggest(trial, family, ds.task, prefix=f"{family}__")
        pipeline = build_pipeline(family, params, ds.schema, ds.task, seed=0)
        return cross_val_score(pipeline, ds.X, ds.y, cv=folds, scoring="roc_auc").mean()

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0))
    # Only LightGBM configurations: the objective searches that family alone.
    added = warm_start_study(study, ds.X, ds.y, n_configs=n_configs, families=["lightgbm"])
    print(f"enqueued {len(added)} recommended configurations")
    study.optimize(objective, n_trials=n_trials)
    for t in study.trials:
        source = t.user_attrs.get("automl_meta:source", "tpe")
        print(f"trial {t.number:2d}  {source:10s}  ROC AUC {t.value:.4f}")
    print(f"best ROC AUC {study.best_value:.4f} (trial {study.best_trial.number})")
    return study


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--configs", type=int, default=5, help="configurations to enqueue")
    args = parser.parse_args()
    main(args.trials, args.configs)
