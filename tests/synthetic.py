"""A synthetic family of related classification tasks, for meta-learning tests.

Each task has a latent vector; the best value of a configuration's first unit coordinate
and the better of two families depend on it, and its meta-features reveal it.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from automl_meta.metadataset.knowledge_base import KnowledgeBase
from automl_meta.spaces import from_unit, get_family

FAMILIES = ("lightgbm", "knn")
N_CONFIGS = 24
TASK = "classification"


def configs(seed: int = 0) -> dict[str, list[tuple[dict, np.ndarray]]]:
    rng = np.random.default_rng(seed)
    out = {}
    for family in FAMILIES:
        n = len(get_family(family).params(TASK))
        units = rng.random((N_CONFIGS, n))
        out[family] = [(from_unit(family, TASK, u), u) for u in units]
    return out


def auc(latent: np.ndarray, family: str, unit: np.ndarray) -> float:
    """A smooth response: the best first hyperparameter and the better family both
    depend on the task's latent vector."""
    optimum = 1 / (1 + np.exp(-2 * latent[0]))
    family_bonus = latent[1] if family == "lightgbm" else -latent[1]
    return float(0.75 + 0.1 * (0.5 * family_bonus - 2 * (unit[0] - optimum) ** 2
                               - 0.3 * unit[1]))


def metafeatures_of(latent: np.ndarray) -> dict:
    return {"mf_a": latent[0], "mf_b": latent[1], "mf_c": latent[0] * latent[1],
            "mf_noise": 0.0}


def synthetic_kb(n_tasks: int = 40, seed: int = 0) -> KnowledgeBase:
    rng = np.random.default_rng(seed)
    designs = configs()
    datasets, metafeatures, evaluations = [], [], []
    for t in range(n_tasks):
        name = f"task{t:03d}"
        latent = rng.normal(size=2)
        datasets.append({"name": name, "task": TASK, "n_rows": 500, "n_features": 10})
        metafeatures.append({"dataset": name, **metafeatures_of(latent)})
        evaluations += _evaluations(name, latent, designs)
    return KnowledgeBase(pd.DataFrame(datasets), pd.DataFrame(metafeatures),
                         _configurations(designs), pd.DataFrame(evaluations))


def auc_at(latent: np.ndarray, family: str, unit: np.ndarray, rows: int) -> float:
    """:func:`auc` on a sample of ``rows``: from 8,000 rows on, the best first
    hyperparameter moves to the other end of its range."""
    if rows >= 8000:
        unit = np.array([1.0 - unit[0], *unit[1:]])
    return auc(latent, family, unit)


def two_sample_sizes_kb(n_tasks: int = 40, seed: int = 0) -> KnowledgeBase:
    """Tasks of 20,000 rows evaluated by a 1,000-row protocol, half of them also by an
    8,000-row one (:func:`auc_at`); meta-features include ``n_instances``."""
    rng = np.random.default_rng(seed)
    designs = configs()
    datasets, metafeatures, evaluations = [], [], []
    for t in range(n_tasks):
        name = f"task{t:03d}"
        latent = rng.normal(size=2)
        datasets.append({"name": name, "task": TASK, "n_rows": 20000, "n_features": 10})
        metafeatures.append({"dataset": name, **metafeatures_of(latent),
                             "n_instances": 20000.0})
        for max_rows in (1000, 8000) if t % 2 == 0 else (1000,):
            evaluations += _evaluations(name, latent, designs, max_rows)
    return KnowledgeBase(pd.DataFrame(datasets), pd.DataFrame(metafeatures),
                         _configurations(designs), pd.DataFrame(evaluations),
                         {"protocol": {"max_rows": 1000}, "extensions": [{"max_rows": 8000}]})


def _evaluations(name: str, latent: np.ndarray, designs: dict,
                 max_rows: int | None = None) -> list[dict]:
    """One ok evaluation per design configuration (with ``max_rows``: on that sample)."""
    return [{"dataset": name, "family": family, "config_id": config_id, "fold": 0,
             "status": "ok", "rmse": np.nan,
             **({"roc_auc": auc(latent, family, unit), "fit_seconds": 0.1} if max_rows is None
                else {"max_rows": max_rows, "roc_auc": auc_at(latent, family, unit, max_rows),
                      "fit_seconds": 0.1 * max_rows / 1000})}
            for family in FAMILIES for config_id, (_, unit) in enumerate(designs[family])]


def _configurations(designs: dict) -> pd.DataFrame:
    return pd.DataFrame([
        {"family": f, "task": TASK, "config_id": i, "params": json.dumps(p), "origin": "test"}
        for f in FAMILIES for i, (p, _) in enumerate(designs[f])])


def new_task(latent) -> tuple[pd.Series, list[str], list[dict], np.ndarray]:
    designs = configs()
    families = [f for f in FAMILIES for _ in designs[f]]
    params = [p for f in FAMILIES for p, _ in designs[f]]
    aucs = np.array([auc(np.asarray(latent), f, u) for f in FAMILIES for _, u in designs[f]])
    return pd.Series(metafeatures_of(np.asarray(latent))), families, params, aucs


def objective_for(latent, extra: bool = False, families=FAMILIES, rows: int | None = None):
    """An Optuna objective over ``family`` and ``<family>__<name>``: the synthetic AUC of
    the task with this latent vector (on a sample of ``rows``: :func:`auc_at`), plus an
    unknown parameter ``extra`` when asked."""
    from automl_meta.spaces import suggest, to_unit

    latent = np.asarray(latent)

    def objective(trial) -> float:
        family = trial.suggest_categorical("family", list(families))
        params = suggest(trial, family, TASK, prefix=f"{family}__")
        unit = to_unit(family, TASK, params)
        value = auc(latent, family, unit) if rows is None else auc_at(latent, family, unit, rows)
        if extra:  # a parameter the sampler does not know
            value -= 1e-3 * trial.suggest_float("extra", 0.0, 1.0)
        return value

    return objective


def run_worker(storage: str, study_name: str, folder: str, seed: int, n_trials: int) -> None:
    """One worker process: a MetaLearnedSampler from ``folder`` (a saved knowledge base
    with its ``metalearner/``) on a shared study of the task with latent (0.8, 0.4)."""
    import optuna

    from automl_meta.metalearner import MetaLearner
    from automl_meta.sampler import MetaLearnedSampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    latent = np.array([0.8, 0.4])
    kb = KnowledgeBase.load(folder)
    sampler = MetaLearnedSampler(metafeatures=pd.Series(metafeatures_of(latent)), task=TASK,
                                 learner=MetaLearner.load(f"{folder}/metalearner"),
                                 knowledge_base=kb, seed=seed)
    study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler)
    study.optimize(objective_for(latent), n_trials=n_trials)
