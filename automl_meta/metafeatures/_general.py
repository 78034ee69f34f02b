"""General meta-features: size, column types, missing values, classes, target shape.

Row and class counts describe the full data; everything else is measured on the
subsample.
"""

from __future__ import annotations

import numpy as np

from automl_meta.metafeatures._base import Features, Step, both, ratio, undefined
from automl_meta.metafeatures._prepare import Prepared

DESCRIPTIONS = {
    "n_instances": "Number of rows of the full data.",
    "log_n_instances": "Natural log of the number of rows.",
    "n_features": "Number of feature columns.",
    "log_n_features": "Natural log of the number of feature columns.",
    "dimensionality": "Feature columns per row (n_features / n_instances).",
    "log_dimensionality": "Natural log of n_features / n_instances.",
    "n_numeric": "Number of numeric (float, integer or boolean) columns.",
    "n_categorical": "Number of categorical (category, string or object) columns.",
    "ratio_numeric": "Fraction of the columns that are numeric.",
    "ratio_categorical": "Fraction of the columns that are categorical.",
    "n_binary": "Number of columns with exactly two distinct non-missing values.",
    "ratio_binary": "Fraction of the columns with exactly two distinct values.",
    "n_constant": "Number of columns with at most one distinct non-missing value.",
    "ratio_constant": "Fraction of the columns with at most one distinct value.",
    "ratio_integer_numeric": "Fraction of the numeric columns holding only whole numbers.",
    "numeric_unique_ratio_mean": (
        "Mean over numeric columns of distinct values / non-missing values."
    ),
    "missing_cell_ratio": "Fraction of the cells of X that are missing.",
    "rows_with_missing_ratio": "Fraction of the rows with at least one missing cell.",
    "cols_with_missing_ratio": "Fraction of the columns with at least one missing cell.",
    "missing_col_max": "Largest fraction of missing cells in one column.",
    "cat_card_mean": "Mean number of categories per categorical column (0 if none).",
    "cat_card_sd": "Standard deviation of the categories per categorical column (0 if none).",
    "cat_card_min": "Fewest categories of a categorical column (0 if none).",
    "cat_card_max": "Most categories of a categorical column (0 if none).",
    "cat_card_total": "Total number of categories, the width of a one-hot encoding of them.",
    "onehot_dimensionality": "Columns after one-hot encoding the categoricals, per row.",
    "duplicate_rows_ratio": "Fraction of the rows whose features repeat an earlier row.",
    "n_classes": "Number of classes.",
    "class_prob_min": "Relative frequency of the rarest class.",
    "class_prob_max": "Relative frequency of the most frequent class.",
    "class_prob_sd": "Standard deviation of the class frequencies.",
    "imbalance_ratio": "Size of the largest class divided by that of the smallest.",
    "minority_class_size": "Number of rows of the rarest class.",
    "target_unique_ratio": "Distinct target values / rows (regression).",
    "target_integer": "1 if every target value is a whole number, else 0 (regression).",
    "target_zero_ratio": "Fraction of the target values equal to 0 (regression).",
    "target_positive": "1 if every target value is > 0, else 0 (regression).",
    "target_range_sd": "Target range divided by its standard deviation (regression).",
    "target_mode_ratio": "Frequency of the most common target value (regression).",
}

#: Count-like or heavy-tailed features: the normalizer applies a signed log1p to them.
LOG_SCALED = frozenset(
    {
        "n_instances", "n_features", "dimensionality", "n_numeric", "n_categorical",
        "n_binary", "n_constant", "cat_card_mean", "cat_card_sd", "cat_card_min",
        "cat_card_max", "cat_card_total", "onehot_dimensionality", "n_classes",
        "imbalance_ratio", "minority_class_size", "target_range_sd",
    }
)


def _shape(d: Prepared) -> Features:
    n, p = d.n_rows, d.n_columns
    p_num, p_cat = d.num.shape[1], d.cat.shape[1]
    return {
        "n_instances": float(n),
        "log_n_instances": float(np.log(n)),
        "n_features": float(p),
        "log_n_features": float(np.log(p)),
        "dimensionality": p / n,
        "log_dimensionality": float(np.log(p / n)),
        "n_numeric": float(p_num),
        "n_categorical": float(p_cat),
        "ratio_numeric": p_num / p,
        "ratio_categorical": p_cat / p,
    }


def _columns(d: Prepared) -> Features:
    distinct = np.concatenate([d.num_distinct, d.cat_levels])
    p = d.n_columns
    n_binary = int(np.count_nonzero(distinct == 2))
    n_constant = int(np.count_nonzero(distinct <= 1))
    out: Features = {
        "n_binary": float(n_binary),
        "ratio_binary": n_binary / p,
        "n_constant": float(n_constant),
        "ratio_constant": n_constant / p,
    }
    observed = d.num_count > 0
    if not observed.any():
        out.update(undefined(["ratio_integer_numeric", "numeric_unique_ratio_mean"],
                             "no numeric column with observed values"))
        return out
    whole = np.all((d.num == np.round(d.num)) | np.isnan(d.num), axis=0)
    out["ratio_integer_numeric"] = float(whole[observed].mean())
    out["numeric_unique_ratio_mean"] = float(
        (d.num_distinct[observed] / d.num_count[observed]).mean()
    )
    return out


def _missing(d: Prepared) -> Features:
    missing = np.hstack([np.isnan(d.num), d.cat < 0])
    per_col = missing.mean(axis=0)
    return {
        "missing_cell_ratio": float(per_col.mean()),
        "rows_with_missing_ratio": float(missing.any(axis=1).mean()),
        "cols_with_missing_ratio": float((per_col > 0).mean()),
        "missing_col_max": float(per_col.max()),
    }


def _categories(d: Prepared) -> Features:
    card = d.cat_levels.astype(float)
    total = float(card.sum())
    # 0 rather than NaN without categoricals: "no categories" is a meaningful value for a
    # meta-learner, and n_categorical tells the two cases apart.
    stats = (
        (card.mean(), card.std(), card.min(), card.max()) if card.size else (0.0,) * 4
    )
    out = dict(zip(("cat_card_mean", "cat_card_sd", "cat_card_min", "cat_card_max"),
                   map(float, stats), strict=True))
    out["cat_card_total"] = total
    out["onehot_dimensionality"] = (d.num.shape[1] + total) / d.n_sample
    return out


def _row_hashes(d: Prepared) -> np.ndarray:
    """A 64-bit hash per row of the feature values (missing values hash alike)."""
    # + 0.0 turns -0.0 into 0.0 so that equal values have equal bits.
    values = np.hstack([np.nan_to_num(d.num, nan=np.pi * 1e300), d.cat.astype(float)]) + 0.0
    bits = np.ascontiguousarray(values).view(np.uint64)
    # Distinct odd multipliers per column make the sum order-sensitive; xor-shifting
    # mixes the high bits of floats into the low ones before the wrapping sum.
    mult = d.rng("row-hash").integers(1, 2**63, size=values.shape[1], dtype=np.uint64) * 2 + 1
    mixed = (bits ^ (bits >> np.uint64(29))) * mult[None, :]
    return mixed.sum(axis=1, dtype=np.uint64)


def _duplicates(d: Prepared) -> Features:
    hashes = _row_hashes(d)
    return {"duplicate_rows_ratio": 1.0 - len(np.unique(hashes)) / len(hashes)}


def _classes(d: Prepared) -> Features:
    counts = d.class_counts.astype(float)
    probs = counts / counts.sum()
    return {
        "n_classes": float(len(counts)),
        "class_prob_min": float(probs.min()),
        "class_prob_max": float(probs.max()),
        "class_prob_sd": float(probs.std()),
        "imbalance_ratio": float(counts.max() / counts.min()),
        "minority_class_size": float(counts.min()),
    }


def _target(d: Prepared) -> Features:
    y = d.y
    values, counts = np.unique(y, return_counts=True)
    sd = float(y.std())
    return {
        "target_unique_ratio": len(values) / len(y),
        "target_integer": float(np.all(y == np.round(y))),
        "target_zero_ratio": float(np.mean(y == 0)),
        "target_positive": float(np.all(y > 0)),
        "target_range_sd": ratio(float(y.max() - y.min()), sd, "the target is constant"),
        "target_mode_ratio": float(counts.max() / len(y)),
    }


STEPS = (
    Step(_shape, both(
        "n_instances", "log_n_instances", "n_features", "log_n_features", "dimensionality",
        "log_dimensionality", "n_numeric", "n_categorical", "ratio_numeric",
        "ratio_categorical",
    )),
    Step(_columns, both(
        "n_binary", "ratio_binary", "n_constant", "ratio_constant", "ratio_integer_numeric",
        "numeric_unique_ratio_mean",
    )),
    Step(_missing, both(
        "missing_cell_ratio", "rows_with_missing_ratio", "cols_with_missing_ratio",
        "missing_col_max",
    )),
    Step(_categories, both(
        "cat_card_mean", "cat_card_sd", "cat_card_min", "cat_card_max", "cat_card_total",
        "onehot_dimensionality",
    )),
    Step(_duplicates, both("duplicate_rows_ratio")),
    Step(_classes, {"classification": (
        "n_classes", "class_prob_min", "class_prob_max", "class_prob_sd", "imbalance_ratio",
        "minority_class_size",
    )}),
    Step(_target, {"regression": (
        "target_unique_ratio", "target_integer", "target_zero_ratio", "target_positive",
        "target_range_sd", "target_mode_ratio",
    )}),
)
