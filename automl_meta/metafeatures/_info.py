"""Information-theoretic meta-features, in bits (base-2 logarithms).

Every column is discretised (:attr:`Prepared.binned`: equal-frequency bins for numeric
columns, missing values as one more level) and crossed with the target (the classes, or
for regression the target in equal-frequency bins). All the contingency tables are built
with one ``bincount`` over a ragged layout: column ``c`` owns ``levels[c] * k`` cells, so
per-column sums are ``np.add.reduceat`` over segments, with no Python loop over columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from automl_meta.metafeatures._base import Features, Step, ratio, summarize, undefined
from automl_meta.metafeatures._prepare import Prepared

#: Cells of the (rows x columns) index array built at once.
_CHUNK_ELEMENTS = 4_000_000

DESCRIPTIONS = {
    "class_entropy": "Entropy of the class distribution on the full data, in bits.",
    "target_entropy": "Entropy of the target in equal-frequency bins, in bits (regression).",
    "class_entropy_norm": "Class entropy divided by log2(number of classes).",
    "target_entropy_norm": "Binned target entropy divided by log2(number of bins).",
    "attr_entropy_mean": "Mean entropy of the discretised columns, in bits.",
    "attr_entropy_sd": "Standard deviation of the entropy of the discretised columns.",
    "attr_entropy_min": "Smallest entropy of a discretised column, in bits.",
    "attr_entropy_max": "Largest entropy of a discretised column, in bits.",
    "attr_entropy_norm_mean": "Mean column entropy divided by log2(its non-empty levels).",
    "mutual_info_mean": "Mean mutual information between a column and the target, in bits.",
    "mutual_info_sd": "Standard deviation of the columns' mutual information with the target.",
    "mutual_info_max": "Largest mutual information of a column with the target, in bits.",
    "mutual_info_norm_mean": "Mean of mutual information / target entropy.",
    "mutual_info_norm_max": "Largest mutual information / target entropy.",
    "joint_entropy_mean": "Mean joint entropy of a column and the target, in bits.",
    "joint_entropy_sd": "Standard deviation of the joint entropy of column and target.",
    "equivalent_n_attributes": "Target entropy / mean mutual information.",
    "noise_signal_ratio": "(Mean column entropy - mean mutual information) / mean MI.",
    "class_conc_mean": "Mean Goodman-Kruskal tau of the class given a column.",
    "class_conc_max": "Largest Goodman-Kruskal tau of the class given a column.",
    "target_conc_mean": "Mean Goodman-Kruskal tau of the binned target given a column.",
    "target_conc_max": "Largest Goodman-Kruskal tau of the binned target given a column.",
    "cramers_v_mean": "Mean Cramer's V between a discretised column and the target.",
    "cramers_v_max": "Largest Cramer's V between a discretised column and the target.",
}

LOG_SCALED = frozenset({"equivalent_n_attributes", "noise_signal_ratio"})


def entropy_terms(p: np.ndarray) -> np.ndarray:
    """``-p log2 p`` elementwise, 0 where ``p == 0``."""
    safe = np.where(p > 0, p, 1.0)
    return -p * np.log2(safe)


@dataclass(frozen=True)
class Tables:
    """Joint and marginal distributions of every column with the target.

    ``joint`` holds p(x, y) for all columns in the ragged layout; ``px`` holds p(x) for
    every (column, level), in column order; ``py`` is p(y).
    """

    joint: np.ndarray
    px: np.ndarray
    py: np.ndarray
    cell_start: np.ndarray
    level_start: np.ndarray
    k: int


def tables(d: Prepared) -> Tables:
    """Contingency tables of every binned column against the binned target."""
    codes, levels = d.binned
    target, k = d.target_binned
    m, p = codes.shape
    cells = levels * k
    cell_start = np.concatenate([[0], np.cumsum(cells)[:-1]])
    counts = np.zeros(int(cells.sum()), dtype=np.int64)
    step = max(1, _CHUNK_ELEMENTS // m)
    for lo in range(0, p, step):
        flat = cell_start[None, lo : lo + step] + codes[:, lo : lo + step] * k + target[:, None]
        counts += np.bincount(flat.ravel(), minlength=len(counts))
    joint = counts / m
    return Tables(
        joint=joint,
        # Cells of one (column, level) are k consecutive entries, one per target level.
        px=joint.reshape(-1, k).sum(axis=1),
        py=np.bincount(target, minlength=k) / m,
        cell_start=cell_start,
        level_start=np.concatenate([[0], np.cumsum(levels)[:-1]]),
        k=k,
    )


def _target_entropy(d: Prepared, t: Tables) -> Features:
    prefix = "class" if d.task == "classification" else "target"
    if d.task == "classification":
        counts = d.class_counts
        h = float(entropy_terms(counts / counts.sum()).sum())
    else:
        counts = np.bincount(d.target_binned[0], minlength=t.k)
        h = float(entropy_terms(t.py).sum())
    n_levels = np.count_nonzero(counts)
    return {
        f"{prefix}_entropy": h,
        f"{prefix}_entropy_norm": ratio(h, float(np.log2(n_levels)), "a single target value"),
    }


def _information(d: Prepared) -> Features:
    t = tables(d)
    h_x = np.add.reduceat(entropy_terms(t.px), t.level_start)
    h_xy = np.add.reduceat(entropy_terms(t.joint), t.cell_start)
    h_y = float(entropy_terms(t.py).sum())
    mi = np.clip(h_x + h_y - h_xy, 0.0, None)  # rounding can push independent MI below 0
    nonempty = np.add.reduceat((t.px > 0).astype(np.int64), t.level_start)
    spread = nonempty >= 2
    out = _target_entropy(d, t)
    out.update(summarize(h_x, "attr_entropy", "no column"))
    out["attr_entropy_norm_mean"] = (
        float(np.mean(h_x[spread] / np.log2(nonempty[spread])))
        if spread.any() else "every column is constant"
    )
    out.update(summarize(mi, "mutual_info", "no column", ("mean", "sd", "max")))
    if h_y > 0:
        out.update(summarize(mi / h_y, "mutual_info_norm", "no column", ("mean", "max")))
    else:
        out.update(undefined(["mutual_info_norm_mean", "mutual_info_norm_max"],
                             "the target has a single value on the subsample"))
    out.update(summarize(h_xy, "joint_entropy", "no column", ("mean", "sd")))
    mean_mi = float(mi.mean())
    no_info = "no column shares information with the target"
    out["equivalent_n_attributes"] = ratio(h_y, mean_mi, no_info)
    out["noise_signal_ratio"] = ratio(float(h_x.mean()) - mean_mi, mean_mi, no_info)
    out.update(_association(d, t))
    return out


def _association(d: Prepared, t: Tables) -> Features:
    """Goodman-Kruskal tau of the target given each column, and Cramer's V."""
    prefix = "class_conc" if d.task == "classification" else "target_conc"
    joint = t.joint.reshape(-1, t.k)
    px = np.where(t.px > 0, t.px, 1.0)
    py = np.where(t.py > 0, t.py, 1.0)
    gini_y = 1.0 - float((t.py**2).sum())
    # tau = (sum_x sum_y p(x,y)^2 / p(x) - sum_y p(y)^2) / (1 - sum_y p(y)^2)
    explained = np.add.reduceat((joint**2).sum(axis=1) / px, t.level_start)
    # phi^2 = chi^2 / m = sum_xy p(x,y)^2 / (p(x) p(y)) - 1
    phi2 = np.add.reduceat(((joint**2) / py[None, :]).sum(axis=1) / px, t.level_start) - 1.0
    nonempty = np.add.reduceat((t.px > 0).astype(np.int64), t.level_start)
    depth = np.minimum(nonempty, np.count_nonzero(t.py)) - 1
    cramers_v = np.sqrt(np.clip(phi2, 0.0, None) / np.where(depth > 0, depth, np.nan))
    out: Features = {}
    if gini_y > 0:
        out.update(summarize((explained - (1.0 - gini_y)) / gini_y, prefix, "no column",
                             ("mean", "max")))
    else:
        out.update(undefined([f"{prefix}_mean", f"{prefix}_max"],
                             "the target has a single value on the subsample"))
    out.update(summarize(cramers_v, "cramers_v", "no column and target both vary",
                         ("mean", "max")))
    return out


_SHARED = (
    "attr_entropy_mean", "attr_entropy_sd", "attr_entropy_min", "attr_entropy_max",
    "attr_entropy_norm_mean", "mutual_info_mean", "mutual_info_sd", "mutual_info_max",
    "mutual_info_norm_mean", "mutual_info_norm_max", "joint_entropy_mean", "joint_entropy_sd",
    "equivalent_n_attributes", "noise_signal_ratio",
)

STEPS = (
    Step(_information, {
        "classification": ("class_entropy", "class_entropy_norm", *_SHARED,
                           "class_conc_mean", "class_conc_max", "cramers_v_mean",
                           "cramers_v_max"),
        "regression": ("target_entropy", "target_entropy_norm", *_SHARED,
                       "target_conc_mean", "target_conc_max", "cramers_v_mean",
                       "cramers_v_max"),
    }),
)
