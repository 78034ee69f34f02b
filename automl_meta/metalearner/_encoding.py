"""Plain-data encoding of trials for the meta-learner: inputs, slots and targets.

Everything here is a pure function of the knowledge base tables and the search spaces in
:mod:`automl_meta.spaces`, the one source of truth for what a configuration looks like.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtri

from automl_meta.data import TASKS
from automl_meta.evaluation.metrics import DEFAULT_METRIC, get_metric
from automl_meta.exceptions import InvalidParamsError
from automl_meta.spaces import FAMILIES, encode, encoding_size, get_family, validate_params


@dataclass(frozen=True)
class Slot:
    """Where one (family, task)'s encoded configuration sits in the padded input vector."""

    family: str
    task: str
    offset: int
    size: int


def slot_layout(families: Sequence[str] = tuple(FAMILIES)) -> list[Slot]:
    """One slot per family and distinct search space.

    A family whose space is the same for both tasks (LightGBM) gets one slot shared by
    the tasks; one whose spaces differ (linear: ``C``/``penalty`` vs ``alpha``) gets one
    slot per task, so that no input dimension means two different hyperparameters.
    """
    slots: list[Slot] = []
    offset = 0
    for family in families:
        seen: dict[tuple, Slot] = {}
        for task in TASKS:
            space = get_family(family).params(task)
            if space in seen:
                slots.append(Slot(family, task, seen[space].offset, seen[space].size))
                continue
            slot = Slot(family, task, offset, encoding_size(family, task))
            seen[space] = slot
            slots.append(slot)
            offset += slot.size
    return slots


def slot_width(slots: Sequence[Slot]) -> int:
    """Length of the padded hyperparameter vector."""
    return max(s.offset + s.size for s in slots)


def encode_configs(slots: Sequence[Slot], task: str, family: str,
                   params_list: Sequence[Mapping]) -> np.ndarray:
    """Encode configurations of one family into the padded slot layout.

    Raises :class:`~automl_meta.exceptions.InvalidParamsError` for a configuration
    outside the family's space.
    """
    slot = next((s for s in slots if s.family == family and s.task == task), None)
    if slot is None:
        get_family(family)  # an UnknownFamilyError names the known families
        raise InvalidParamsError(f"this meta-learner was not trained with family {family!r}")
    out = np.zeros((len(params_list), slot_width(slots)), dtype=np.float32)
    for i, params in enumerate(params_list):
        if not isinstance(params, Mapping):
            raise InvalidParamsError(
                f"{family}: a configuration must be a dict, got {type(params).__name__}")
        out[i, slot.offset:slot.offset + slot.size] = encode(
            family, task, validate_params(family, task, params))
    return out


def normal_scores(losses: np.ndarray) -> np.ndarray:
    """Rank-based normal scores of losses, higher is better.

    Ranks make ROC AUC and RMSE comparable across datasets, and robust to the odd
    configuration with a huge loss; ties share their average rank.
    """
    ranks = pd.Series(losses).rank(method="average").to_numpy()
    return (-ndtri((ranks - 0.5) / len(losses))).astype(np.float32)


@dataclass
class TrialTable:
    """Every usable trial of a knowledge base as aligned arrays (one row per trial)."""

    datasets: list[str]  # task index -> dataset name
    tasks: list[str]  # task index -> "classification" / "regression"
    task_index: np.ndarray  # (n,) int64
    family_index: np.ndarray  # (n,) int64
    hyperparameters: np.ndarray  # (n, slot width) float32
    losses: np.ndarray  # (n,) float64, the metric's loss (lower is better)
    targets: np.ndarray  # (n,) float32, normal scores within the dataset

    def rows_of(self) -> list[np.ndarray]:
        """Row indices of each task, in task order."""
        order = np.argsort(self.task_index, kind="stable")
        bounds = np.searchsorted(self.task_index[order], np.arange(len(self.datasets) + 1))
        return [order[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def trial_table(scores: pd.DataFrame, slots: Sequence[Slot], families: Sequence[str],
                datasets: Sequence[str]) -> TrialTable:
    """Build a :class:`TrialTable` from :meth:`KnowledgeBase.scores` rows.

    Only successful evaluations of the listed ``datasets`` and ``families`` count, and a
    dataset needs two distinct losses to say anything about which configuration is better.
    """
    ok = scores[(scores["status"] == "ok") & scores["score"].notna() & scores["params"].notna()
                & scores["dataset"].isin(datasets) & scores["family"].isin(families)]
    family_ids = {f: i for i, f in enumerate(families)}
    cache: dict[tuple[str, str, int], np.ndarray] = {}
    names, tasks, task_rows = [], [], []
    for name, group in ok.groupby("dataset", sort=True):
        task = group["task"].iloc[0]
        losses = get_metric(DEFAULT_METRIC[task], task).loss(group["score"].to_numpy())
        if np.unique(losses).size < 2:
            continue
        encoded = []
        for family, config_id, params in zip(group["family"], group["config_id"],
                                             group["params"], strict=True):
            key = (family, task, int(config_id))
            if key not in cache:
                cache[key] = encode_configs(slots, task, family, [json.loads(params)])[0]
            encoded.append(cache[key])
        task_rows.append((len(names), group["family"].map(family_ids).to_numpy(),
                          np.stack(encoded), losses, normal_scores(losses)))
        names.append(name)
        tasks.append(task)
    if not task_rows:
        return TrialTable(names, tasks, np.zeros(0, np.int64), np.zeros(0, np.int64),
                          np.zeros((0, slot_width(slots)), np.float32), np.zeros(0),
                          np.zeros(0, np.float32))
    return TrialTable(
        names, tasks,
        np.concatenate([np.full(len(r[3]), r[0], dtype=np.int64) for r in task_rows]),
        np.concatenate([r[1] for r in task_rows]).astype(np.int64),
        np.concatenate([r[2] for r in task_rows]),
        np.concatenate([r[3] for r in task_rows]),
        np.concatenate([r[4] for r in task_rows]),
    )
