"""Validate by groups when rows come in groups: scores that say how a model does on new ones.

Several rows per patient (visits, measurements) share most of their values. Folds that
split a patient's rows validate on near-copies of rows the model trained on, so the
search's scores promise more than the model keeps on new patients. ``fit(X, y,
groups=...)`` keeps each patient on one side of every split.

This script makes such data (a patient's visits differ by a little noise; half of the
label comes from the patient's measurements, the rest is the patient's own), fits once
without and once with the groups, and scores both on patients neither fit has seen.

    python examples/grouped_validation.py [--time 30 | --trials N]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from automl_meta import AutoMetaClassifier


def patients(n_patients: int, visits: int, seed: int) -> tuple[pd.DataFrame, pd.Series,
                                                                 np.ndarray]:
    """``visits`` rows per patient: the patient's 8 measurements plus noise, and a label
    that depends on the first two measurements and on the patient."""
    rng = np.random.default_rng(seed)
    baseline = rng.normal(size=(n_patients, 8))
    risk = baseline[:, 0] - baseline[:, 1] + 1.5 * rng.normal(size=n_patients)
    ids = np.repeat(np.arange(n_patients), visits)
    X = pd.DataFrame(baseline[ids] + 0.05 * rng.normal(size=(len(ids), 8)),
                     columns=[f"m{j}" for j in range(8)])
    y = pd.Series((risk[ids] + 0.3 * rng.normal(size=len(ids)) > 0).astype(int), name="event")
    return X, y, ids


def main(time_budget: float | None, n_trials: int | None = None,
         ) -> dict[str, tuple[float, float]]:
    X, y, ids = patients(150, 6, seed=0)
    X_new, y_new, _ = patients(300, 6, seed=1)  # other patients
    results = {}
    for name, groups in (("rows split freely", None), ("patients kept whole", ids)):
        model = AutoMetaClassifier(time_budget=time_budget, n_trials=n_trials,
                                   random_state=0)
        model.fit(X, y, groups=groups)
        new = roc_auc_score(y_new, model.predict_proba(X_new)[:, 1])
        results[name] = (model.best_score_, new)
        print(f"{name:<20} CV ROC AUC {model.best_score_:.3f}   on new patients {new:.3f}   "
              f"best: {model.best_params_['family']}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--time", type=float, default=30.0, help="budget of each fit, s (30)")
    budget.add_argument("--trials", type=int,
                        help="instead of a time budget, N trials per fit (the same on any "
                             "machine)")
    args = parser.parse_args()
    main(None if args.trials else args.time, args.trials)
