"""Learn from your own past Optuna studies, in a search space of your own.

You have tuned a model on several related datasets before; a new one arrives.
:meth:`automl_meta.MetaLearnedSampler.from_studies` meta-trains the surrogate on those
past studies (any parameter names and distributions), so that the new study starts where
good configurations were and adapts to its own trials as they come in.

    python examples/custom_objective.py [--trials 12]

Here the "related datasets" are synthetic classification problems of one family
(scikit-learn's ``make_classification`` with different seeds) and the model is a
LightGBM classifier with your own parameter names.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import optuna
from lightgbm import LGBMClassifier
from sklearn.datasets import make_classification
from sklearn.model_selection import cross_val_score

from automl_meta import MetaLearnedSampler


def make_objective(seed: int):
    X, y = make_classification(600, 20, n_informative=6, flip_y=0.05, random_state=seed)

    def objective(trial: optuna.Trial) -> float:
        model = LGBMClassifier(
            learning_rate=trial.suggest_float("lr", 1e-3, 1.0, log=True),
            num_leaves=trial.suggest_int("leaves", 2, 128, log=True),
            reg_lambda=trial.suggest_float("l2", 1e-6, 10.0, log=True),
            n_estimators=50, n_jobs=1, verbose=-1, random_state=0)
        return cross_val_score(model, X, y, cv=3, scoring="roc_auc").mean()

    return objective


def main(n_trials: int, n_past: int, folder: Path) -> dict[str, float]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{folder / 'history.db'}"
    names = []
    for seed in range(n_past):  # your tuning history: one study per earlier dataset
        study = optuna.create_study(study_name=f"dataset-{seed}", storage=storage,
                                    direction="maximize",
                                    sampler=optuna.samplers.RandomSampler(seed=seed))
        study.optimize(make_objective(seed), n_trials=15)
        names.append(study.study_name)
    print(f"{len(names)} past studies in {storage}")

    sampler = MetaLearnedSampler.from_studies(storage, names, steps=100, seed=0)
    new_task = make_objective(seed=100)
    best = {}
    for name, s in {"meta-learned": sampler, "tpe": optuna.samplers.TPESampler(seed=0)}.items():
        study = optuna.create_study(direction="maximize", sampler=s)
        study.optimize(new_task, n_trials=n_trials)
        best[name] = study.best_value
        print(f"{name:13s} best ROC AUC after {n_trials} trials: {study.best_value:.4f} "
              f"{study.best_params}")
    return best


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--past", type=int, default=4, help="past studies to learn from")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        main(args.trials, args.past, Path(tmp))
