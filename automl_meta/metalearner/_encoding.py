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
from optuna.distributions import BaseDistribution, CategoricalDistribution
from scipy.special import ndtri

from automl_meta.data import TASKS
from automl_meta.exceptions import InvalidParamsError
from automl_meta.spaces import (
    FAMILIES,
    encode,
    encoding_size,
    get_family,
    unit_coordinate,
    validate_params,
)

#: A custom family's search space: parameter name -> Optuna distribution.
Space = Mapping[str, BaseDistribution]


@dataclass(frozen=True)
class Slot:
    """Where one (family, task)'s encoded configuration sits in the padded input vector."""

    family: str
    task: str
    offset: int
    size: int


def slot_layout(families: Sequence[str] = tuple(FAMILIES),
                custom: Mapping[str, Space] | None = None) -> list[Slot]:
    """One slot per family and distinct search space.

    A family whose space is the same for both tasks (LightGBM) gets one slot shared by
    the tasks; one whose spaces differ (linear: ``C``/``penalty`` vs ``alpha``) gets one
    slot per task, so that no input dimension means two different hyperparameters.
    A custom family (``custom``: its space, e.g. from past Optuna studies) gets one slot
    shared by the tasks.
    """
    slots: list[Slot] = []
    offset = 0
    for family in families:
        if custom and family in custom:
            size = custom_encoding_size(custom[family])
            slots.extend(Slot(family, task, offset, size) for task in TASKS)
            offset += size
            continue
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
                   params_list: Sequence[Mapping],
                   custom: Mapping[str, Space] | None = None) -> np.ndarray:
    """Encode configurations of one family into the padded slot layout.

    Raises :class:`~automl_meta.exceptions.InvalidParamsError` for a configuration
    outside the family's space.
    """
    slot = next((s for s in slots if s.family == family and s.task == task), None)
    if slot is None:
        if not (custom and family in custom):
            get_family(family)  # an UnknownFamilyError names the known families
        raise InvalidParamsError(f"this meta-learner was not trained with family {family!r}")
    out = np.zeros((len(params_list), slot_width(slots)), dtype=np.float32)
    for i, params in enumerate(params_list):
        if not isinstance(params, Mapping):
            raise InvalidParamsError(
                f"{family}: a configuration must be a dict, got {type(params).__name__}")
        if custom and family in custom:
            vector = encode_custom(custom[family], params)
        else:
            vector = encode(family, task, validate_params(family, task, params))
        out[i, slot.offset:slot.offset + slot.size] = vector
    return out


def custom_encoding_size(space: Space) -> int:
    """Length of :func:`encode_custom`'s vector."""
    return sum(len(d.choices) if isinstance(d, CategoricalDistribution) else 2
               for d in space.values())


def encode_custom(space: Space, params: Mapping) -> np.ndarray:
    """Encode a configuration of a custom space, parameters in name order.

    Numbers: their unit coordinate and a "present" bit; categoricals: one-hot. A
    parameter the configuration lacks (inactive in a conditional space) encodes as zeros;
    values outside the space are clipped to it, and unknown names are ignored, since past
    studies need not share one space exactly.
    """
    out: list[float] = []
    for name in sorted(space):
        dist, present = space[name], name in params and params[name] is not None
        if isinstance(dist, CategoricalDistribution):
            out.extend(float(present and params[name] == c) for c in dist.choices)
            continue
        value = params[name] if present else None
        if present and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise InvalidParamsError(f"parameter {name!r} must be a number, got {value!r}")
        if present and dist.log and value <= 0:
            raise InvalidParamsError(f"parameter {name!r} is on a log scale, got {value!r}")
        out.extend([unit_coordinate(dist, value) if present else 0.0, float(present)])
    return np.asarray(out, dtype=np.float32)


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

    datasets: list[str]  # task index -> dataset name (repeated: several sample sizes)
    tasks: list[str]  # task index -> "classification" / "regression"
    rows: list[float]  # task index -> rows evaluated on (NaN: unknown, e.g. imported)
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
                datasets: Sequence[str], custom: Mapping[str, Space] | None = None,
                ) -> TrialTable:
    """Build a :class:`TrialTable` from :meth:`KnowledgeBase.scores` rows.

    A task is a dataset evaluated under one protocol: a dataset evaluated on several
    sample sizes (``max_rows``) is several tasks. Only successful evaluations of the
    listed ``datasets`` and ``families`` count, and a task needs two distinct losses to
    say anything about which configuration is better.
    """
    ok = scores[(scores["status"] == "ok") & scores["loss"].notna() & scores["params"].notna()
                & scores["dataset"].isin(datasets) & scores["family"].isin(families)]
    family_ids = {f: i for i, f in enumerate(families)}
    cache: dict[tuple[str, str, int], np.ndarray] = {}
    if "max_rows" not in ok.columns:
        ok = ok.assign(max_rows=np.nan, rows=np.nan)
    names, tasks, sizes, task_rows = [], [], [], []
    for (name, _), group in ok.groupby(["dataset", "max_rows"], sort=True, dropna=False):
        task = group["task"].iloc[0]
        losses = group["loss"].to_numpy(dtype=float)
        if np.unique(losses).size < 2:
            continue
        encoded = []
        for family, config_id, params in zip(group["family"], group["config_id"],
                                             group["params"], strict=True):
            key = (family, task, int(config_id))
            if key not in cache:
                cache[key] = encode_configs(slots, task, family, [json.loads(params)],
                                            custom)[0]
            encoded.append(cache[key])
        task_rows.append((len(names), group["family"].map(family_ids).to_numpy(),
                          np.stack(encoded), losses, normal_scores(losses)))
        names.append(name)
        tasks.append(task)
        sizes.append(float(group["rows"].iloc[0]))
    if not task_rows:
        return TrialTable(names, tasks, sizes, np.zeros(0, np.int64), np.zeros(0, np.int64),
                          np.zeros((0, slot_width(slots)), np.float32), np.zeros(0),
                          np.zeros(0, np.float32))
    return TrialTable(
        names, tasks, sizes,
        np.concatenate([np.full(len(r[3]), r[0], dtype=np.int64) for r in task_rows]),
        np.concatenate([r[1] for r in task_rows]).astype(np.int64),
        np.concatenate([r[2] for r in task_rows]),
        np.concatenate([r[3] for r in task_rows]),
        np.concatenate([r[4] for r in task_rows]),
    )
