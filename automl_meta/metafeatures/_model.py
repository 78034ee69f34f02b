"""Model-based meta-features: the shape of a decision tree fitted to the data.

The tree sees at most :data:`MODEL_ROWS` rows of the subsample (stratified, fixed seed):
a full tree on noisy data grows with the rows and dominates the extraction time.
Classification grows a full tree (as PyMFE does); regression stops at
:data:`REGRESSION_MIN_LEAF` rows per leaf, because an unconstrained regression tree
isolates every distinct target value and its shape then says little.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from automl_meta.metafeatures._base import Features, Step, ratio, summarize, undefined
from automl_meta.metafeatures._prepare import Prepared, sample_rows

MODEL_ROWS = 5000
REGRESSION_MIN_LEAF = 5

DESCRIPTIONS = {
    "tree_n_leaves": "Leaves of the decision tree fitted to the data.",
    "tree_depth": "Depth of the decision tree.",
    "tree_leaves_per_instance": "Leaves of the tree per training row.",
    "tree_nodes_per_feature": "Internal (split) nodes of the tree per feature column.",
    "tree_leaf_depth_mean": "Mean depth of the tree's leaves.",
    "tree_leaf_depth_sd": "Standard deviation of the depth of the tree's leaves.",
    "tree_leaf_size_cv": "Coefficient of variation of the rows per leaf.",
    "tree_nodes_per_level_mean": "Mean number of split nodes per depth level.",
    "tree_nodes_per_level_max": "Largest number of split nodes on one depth level.",
    "tree_feature_usage": "Fraction of the columns used by at least one split.",
    "tree_importance_max": "Largest impurity-based feature importance of the tree.",
    "tree_importance_entropy": "Normalised entropy of the feature importances (1 = uniform).",
    "tree_repeated_mean": "Mean number of splits on a column the tree uses.",
    "tree_repeated_max": "Most splits on a single column.",
    "tree_train_error": (
        "Training error of the tree: misclassified fraction, or 1 - R2 for regression."
    ),
    "tree_root_gain": "Impurity decrease of the root split relative to the root impurity.",
    "tree_leaves_per_class_min": "Smallest fraction of the leaves predicting one class.",
    "tree_leaves_per_class_sd": "Standard deviation of the fraction of leaves per class.",
}

LOG_SCALED = frozenset(
    {"tree_n_leaves", "tree_depth", "tree_nodes_per_feature", "tree_leaf_size_cv",
     "tree_nodes_per_level_mean", "tree_nodes_per_level_max", "tree_repeated_mean",
     "tree_repeated_max"}
)

_SHARED = (
    "tree_n_leaves", "tree_depth", "tree_leaves_per_instance", "tree_nodes_per_feature",
    "tree_leaf_depth_mean", "tree_leaf_depth_sd", "tree_leaf_size_cv",
    "tree_nodes_per_level_mean", "tree_nodes_per_level_max", "tree_feature_usage",
    "tree_importance_max", "tree_importance_entropy", "tree_repeated_mean",
    "tree_repeated_max", "tree_train_error", "tree_root_gain",
)


def node_depths(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Depth of every node, one vectorised pass per level (children follow parents)."""
    depth = np.zeros(len(left), dtype=np.int64)
    frontier = np.array([0])
    level = 0
    while frontier.size:
        level += 1
        children = np.concatenate([left[frontier], right[frontier]])
        frontier = children[children >= 0]
        depth[frontier] = level
    return depth


def _fit(
    d: Prepared, rows: np.ndarray
) -> DecisionTreeClassifier | DecisionTreeRegressor:
    if d.task == "classification":
        model = DecisionTreeClassifier(random_state=d.seed)
    else:
        model = DecisionTreeRegressor(min_samples_leaf=REGRESSION_MIN_LEAF, random_state=d.seed)
    return model.fit(d.design[rows], d.y[rows])


def _tree_shape(d: Prepared) -> Features:
    if d.task == "regression" and np.ptp(d.y) == 0:
        return undefined(_SHARED, "the target is constant")
    rows = np.arange(d.n_sample)
    if d.n_sample > MODEL_ROWS:
        classes = d.y if d.task == "classification" else None
        rows = sample_rows(d.n_sample, MODEL_ROWS, d.rng("model-rows"), classes)
    y = d.y[rows]
    model = _fit(d, rows)
    tree = model.tree_
    left, right = tree.children_left, tree.children_right
    is_leaf = left < 0
    depth = node_depths(left, right)
    n_leaves = int(is_leaf.sum())
    splits = tree.feature[~is_leaf]
    p = d.n_columns
    leaf_rows = tree.n_node_samples[is_leaf].astype(float)
    per_level = np.bincount(depth[~is_leaf]) if splits.size else np.zeros(1)
    uses = np.bincount(splits, minlength=p)
    importance = model.feature_importances_
    out: Features = {
        "tree_n_leaves": float(n_leaves),
        "tree_depth": float(depth.max()),
        "tree_leaves_per_instance": n_leaves / len(rows),
        "tree_nodes_per_feature": splits.size / p,
        "tree_leaf_depth_mean": float(depth[is_leaf].mean()),
        "tree_leaf_depth_sd": float(depth[is_leaf].std()),
        "tree_leaf_size_cv": float(leaf_rows.std() / leaf_rows.mean()),
        "tree_nodes_per_level_mean": float(per_level.mean()),
        "tree_nodes_per_level_max": float(per_level.max()),
        "tree_feature_usage": float(np.mean(uses > 0)),
        "tree_importance_max": float(importance.max()),
    }
    if splits.size:
        share = importance[importance > 0]
        out["tree_importance_entropy"] = (
            float(-(share * np.log(share)).sum() / np.log(p)) if p > 1 else 0.0
        )
        out["tree_repeated_mean"] = float(uses[uses > 0].mean())
        out["tree_repeated_max"] = float(uses.max())
        children = tree.n_node_samples[[left[0], right[0]]]
        child_impurity = tree.impurity[[left[0], right[0]]] @ children / children.sum()
        out["tree_root_gain"] = ratio(
            tree.impurity[0] - child_impurity, tree.impurity[0], "the root is pure"
        )
    else:
        out.update(undefined(["tree_importance_entropy", "tree_repeated_mean",
                              "tree_repeated_max", "tree_root_gain"], "the tree has no split"))
    out["tree_train_error"] = _train_error(tree, is_leaf, y, d.task == "classification")
    if d.task == "classification":
        out.update(_leaves_per_class(tree, is_leaf, y, d.n_classes))
    return out


def _train_error(tree: Any, is_leaf: np.ndarray, y: np.ndarray, classification: bool) -> float:
    rows = tree.n_node_samples[is_leaf].astype(float)
    if classification:
        purity = tree.value[is_leaf, 0, :].max(axis=1) / tree.value[is_leaf, 0, :].sum(axis=1)
        return float((rows * (1.0 - purity)).sum() / rows.sum())
    # Leaf impurity is the leaf's MSE: the weighted sum is the training SSE / m.
    return float((rows * tree.impurity[is_leaf]).sum() / rows.sum() / y.var())


def _leaves_per_class(tree: Any, is_leaf: np.ndarray, y: np.ndarray, k: int) -> Features:
    winners = np.argmax(tree.value[is_leaf, 0, :], axis=1)
    # The tree's class order is the sorted codes present; map back to all k classes.
    classes = np.unique(y)[winners]
    share = np.bincount(classes, minlength=k) / is_leaf.sum()
    return summarize(share, "tree_leaves_per_class", "no leaf", ("min", "sd"))


STEPS = (
    Step(_tree_shape, {
        "classification": (*_SHARED, "tree_leaves_per_class_min", "tree_leaves_per_class_sd"),
        "regression": _SHARED,
    }),
)
