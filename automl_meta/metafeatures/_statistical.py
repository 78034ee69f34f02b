"""Statistical meta-features of the numeric columns, and how they relate to the target.

Moments are the biased, Fisher-convention estimates of :func:`scipy.stats.skew` and
:func:`scipy.stats.kurtosis` (a normal column has kurtosis 0), over each column's
non-missing values. Pairwise statistics (correlations, PCA, canonical correlations) use
median-imputed, standardised columns, at most :data:`MAX_PAIRWISE_COLUMNS` of them.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from automl_meta.metafeatures._base import (
    Features,
    Step,
    Value,
    both,
    ratio,
    summarize,
    undefined,
)
from automl_meta.metafeatures._prepare import Prepared

#: Columns drawn (fixed seed) for the O(p^2) and O(p^3) statistics on wide data.
MAX_PAIRWISE_COLUMNS = 500

#: |r| above which a pair of columns counts as highly correlated.
HIGH_CORRELATION = 0.5

#: Jarque-Bera statistic below which a column passes as normal (chi2(2) at 5%).
_JB_CRITICAL = 2 * np.log(20)

DESCRIPTIONS = {
    **{f"skew_{s}": f"{w} of the skewness of the numeric columns."
       for s, w in (("mean", "Mean"), ("sd", "Standard deviation"), ("min", "Minimum"),
                    ("max", "Maximum"))},
    **{f"kurt_{s}": f"{w} of the excess kurtosis (normal = 0) of the numeric columns."
       for s, w in (("mean", "Mean"), ("sd", "Standard deviation"), ("min", "Minimum"),
                    ("max", "Maximum"))},
    **{f"cv_{s}": f"{w} of the coefficient of variation sd/|mean| of the numeric columns."
       for s, w in (("mean", "Mean"), ("sd", "Standard deviation"), ("min", "Minimum"),
                    ("max", "Maximum"))},
    "normality_ratio": "Fraction of numeric columns passing a Jarque-Bera normality test.",
    "outlier_ratio_mean": "Mean fraction of values outside [Q1-1.5 IQR, Q3+1.5 IQR].",
    "outlier_ratio_max": "Largest fraction of IQR outliers in one numeric column.",
    "outlier_feature_ratio": "Fraction of numeric columns with at least one IQR outlier.",
    "iqr_sd_ratio_mean": "Mean IQR / (1.349 sd): 1 for normal columns, < 1 for heavy tails.",
    "sparsity": "Fraction of the non-missing numeric values equal to 0.",
    "sparse_feature_ratio": "Fraction of numeric columns with more than half zeros.",
    "discrete_ratio": "Fraction of numeric columns with at most 10 distinct values.",
    "corr_abs_mean": "Mean absolute Pearson correlation over pairs of numeric columns.",
    "corr_abs_sd": "Standard deviation of the absolute pairwise correlations.",
    "corr_abs_max": "Largest absolute Pearson correlation between two numeric columns.",
    "corr_high_ratio": "Fraction of pairs of numeric columns with |correlation| > 0.5.",
    "pca_95_ratio": "Principal components needed for 95% of the variance / numeric columns.",
    "pca_first_ratio": "Fraction of the variance explained by the first principal component.",
    "pca_eigen_entropy": "Normalised entropy of the PCA eigenvalue spectrum (1 = isotropic).",
    "pca_first_skew": "Skewness of the data projected on the first principal component.",
    "pca_first_kurt": "Excess kurtosis of the data projected on the first principal component.",
    "eta2_mean": "Mean correlation ratio (share of variance between classes) of numeric columns.",
    "eta2_sd": "Standard deviation of the correlation ratio of the numeric columns.",
    "eta2_max": "Largest correlation ratio of a numeric column with the class.",
    "class_sd_ratio_mean": "Mean over columns of the largest within-class sd / pooled sd.",
    "can_cor_first": "First canonical correlation between numeric columns and classes (LDA).",
    "wilks_lambda": "Wilks' lambda of the numeric columns given the class (0 = separable).",
    "lda_first_share": "Share of the discriminant power in the first LDA direction.",
    "target_skew": "Skewness of the target (regression).",
    "target_kurt": "Excess kurtosis of the target (regression).",
    "target_cv": "Coefficient of variation sd/|mean| of the target (regression).",
    "target_outlier_ratio": "Fraction of target values that are IQR outliers (regression).",
    "target_corr_abs_mean": "Mean |Pearson correlation| of numeric columns with the target.",
    "target_corr_abs_sd": "Standard deviation of |correlation| of the columns with the target.",
    "target_corr_abs_max": "Largest |Pearson correlation| of a numeric column with the target.",
    "target_spearman_abs_mean": "Mean |Spearman correlation| of numeric columns with target.",
    "target_spearman_abs_max": "Largest |Spearman correlation| of a column with the target.",
    "target_r2_ols": "In-sample R2 of least squares on all columns (ordinal-coded categoricals).",
    "target_eta_binned_mean": "Mean correlation ratio of the target over binned columns.",
    "target_eta_binned_max": "Largest correlation ratio of the target over a binned column.",
}

LOG_SCALED = frozenset(
    {f"{g}_{s}" for g in ("skew", "kurt", "cv") for s in ("mean", "sd", "min", "max")}
    | {"pca_first_skew", "pca_first_kurt", "target_skew", "target_kurt", "target_cv",
       "class_sd_ratio_mean"}
)

_NO_NUMERIC = "no numeric column with at least two distinct values"

_MOMENTS = (
    "skew_mean", "skew_sd", "skew_min", "skew_max", "kurt_mean", "kurt_sd", "kurt_min",
    "kurt_max", "cv_mean", "cv_sd", "cv_min", "cv_max", "normality_ratio",
)
_DISTRIBUTION = (
    "outlier_ratio_mean", "outlier_ratio_max", "outlier_feature_ratio", "iqr_sd_ratio_mean",
    "sparsity", "sparse_feature_ratio", "discrete_ratio",
)
_PAIRWISE = (
    "corr_abs_mean", "corr_abs_sd", "corr_abs_max", "corr_high_ratio", "pca_95_ratio",
    "pca_first_ratio", "pca_eigen_entropy", "pca_first_skew", "pca_first_kurt",
)
_CLASS = (
    "eta2_mean", "eta2_sd", "eta2_max", "class_sd_ratio_mean", "can_cor_first",
    "wilks_lambda", "lda_first_share",
)
_TARGET = (
    "target_skew", "target_kurt", "target_cv", "target_outlier_ratio", "target_corr_abs_mean",
    "target_corr_abs_sd", "target_corr_abs_max", "target_spearman_abs_mean",
    "target_spearman_abs_max", "target_r2_ols", "target_eta_binned_mean",
    "target_eta_binned_max",
)


def central_moments(x: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per column of ``x`` (NaN = missing): count, mean, and central moments 2, 3, 4."""
    valid = ~np.isnan(x)
    count = np.count_nonzero(valid, axis=0)
    mean = np.where(valid, x, 0.0).sum(axis=0) / np.maximum(count, 1)
    dev = np.where(valid, x - mean, 0.0)
    dev2 = dev * dev
    m2, m3, m4 = (a.sum(axis=0) / np.maximum(count, 1) for a in (dev2, dev2 * dev, dev2 * dev2))
    return count, mean, m2, m3, m4


def skew_kurt(m2: np.ndarray, m3: np.ndarray, m4: np.ndarray) -> tuple[np.ndarray, ...]:
    """Biased skewness and excess kurtosis from central moments (NaN where m2 == 0)."""
    m2 = np.where(m2 > 0, m2, np.nan)
    return m3 / m2**1.5, m4 / m2**2 - 3.0


def _column_moments(d: Prepared) -> tuple[np.ndarray, ...]:
    return d.memo("moments", lambda: central_moments(d.num))


def _moments(d: Prepared) -> Features:
    count, mean, m2, m3, m4 = _column_moments(d)
    use = d.num_varying
    if not use.any():
        return undefined(_MOMENTS, _NO_NUMERIC)
    skew, kurt = skew_kurt(m2[use], m3[use], m4[use])
    sd, mu, n = np.sqrt(m2[use]), mean[use], count[use]
    # A mean that is zero up to rounding (centred data) makes sd/|mean| meaningless.
    cv = np.where(np.abs(mu) > 1e-8 * sd, sd / np.abs(mu), np.nan)
    jarque_bera = n / 6.0 * (skew**2 + kurt**2 / 4.0)
    return {
        **summarize(skew, "skew", _NO_NUMERIC),
        **summarize(kurt, "kurt", _NO_NUMERIC),
        **summarize(cv, "cv", "every numeric column has mean 0"),
        "normality_ratio": float(np.mean(jarque_bera < _JB_CRITICAL)),
    }


def _distribution(d: Prepared) -> Features:
    observed = d.num_count > 0
    if not observed.any():
        return undefined(_DISTRIBUTION, "no numeric column")
    x = d.num[:, observed]
    count = d.num_count[observed]
    q1, q3 = d.quantiles(np.array([0.25, 0.75]))[:, observed]
    iqr = q3 - q1
    outliers = np.count_nonzero((x < q1 - 1.5 * iqr) | (x > q3 + 1.5 * iqr), axis=0) / count
    zeros = np.count_nonzero(x == 0, axis=0)
    sd = np.sqrt(_column_moments(d)[2][observed])
    iqr_sd = np.where(sd > 0, iqr / (1.349 * np.where(sd > 0, sd, 1.0)), np.nan)
    return {
        "outlier_ratio_mean": float(outliers.mean()),
        "outlier_ratio_max": float(outliers.max()),
        "outlier_feature_ratio": float(np.mean(outliers > 0)),
        "iqr_sd_ratio_mean": (
            float(np.nanmean(iqr_sd)) if np.isfinite(iqr_sd).any() else _NO_NUMERIC
        ),
        "sparsity": float(zeros.sum() / count.sum()),
        "sparse_feature_ratio": float(np.mean(zeros > count / 2)),
        "discrete_ratio": float(np.mean(d.num_distinct[observed] <= 10)),
    }


def pairwise_columns(d: Prepared) -> np.ndarray:
    """Indices of the varying numeric columns used for pairwise statistics."""
    columns = np.flatnonzero(d.num_varying)
    if len(columns) > MAX_PAIRWISE_COLUMNS:
        chosen = d.rng("pairwise").choice(len(columns), MAX_PAIRWISE_COLUMNS, replace=False)
        columns = columns[np.sort(chosen)]
    return columns


def standardized(d: Prepared) -> np.ndarray:
    """Median-imputed, standardised pairwise columns (m, q)."""

    def compute() -> np.ndarray:
        x = d.num_imputed[:, pairwise_columns(d)]
        x = x - x.mean(axis=0)
        sd = x.std(axis=0)
        # Imputation can make a sparse column constant on the subsample.
        return x / np.where(sd > 0, sd, 1.0)

    return d.memo("standardized", compute)


def _pairwise(d: Prepared) -> Features:
    z = standardized(d)
    m, q = z.shape
    if q == 0:
        return undefined(_PAIRWISE, _NO_NUMERIC)
    corr = (z.T @ z) / m
    out: Features = {}
    if q >= 2:
        pairs = np.abs(corr[np.triu_indices(q, k=1)])
        out.update(summarize(pairs, "corr_abs", "no finite correlation", ("mean", "sd", "max")))
        out["corr_high_ratio"] = float(np.mean(pairs > HIGH_CORRELATION))
    else:
        out.update(undefined(["corr_abs_mean", "corr_abs_sd", "corr_abs_max",
                              "corr_high_ratio"], "fewer than two varying numeric columns"))
    eigval, eigvec = np.linalg.eigh(corr)
    eigval, first = np.clip(eigval[::-1], 0.0, None), eigvec[:, -1]
    share = eigval / eigval.sum()
    positive = share[share > 0]
    out["pca_95_ratio"] = float((np.searchsorted(np.cumsum(share), 0.95) + 1) / q)
    out["pca_first_ratio"] = float(share[0])
    out["pca_eigen_entropy"] = (
        float(-(positive * np.log(positive)).sum() / np.log(q)) if q >= 2 else 0.0
    )
    projection = z @ first
    _, _, m2, m3, m4 = central_moments(projection[:, None])
    skew, kurt = skew_kurt(m2, m3, m4)
    out["pca_first_skew"] = float(abs(skew[0]))  # the eigenvector's sign is arbitrary
    out["pca_first_kurt"] = float(kurt[0])
    return out


def class_sums(codes: np.ndarray, k: int, x: np.ndarray) -> np.ndarray:
    """(k, q) per-class column sums of ``x``, O(m q) whatever the number of classes."""
    m, q = x.shape
    flat = (codes[:, None] * q + np.arange(q)[None, :]).ravel()
    return np.bincount(flat, weights=x.ravel(), minlength=k * q).reshape(k, q)


def _class_separation(d: Prepared) -> Features:
    use = d.num_varying
    if not use.any():
        return undefined(_CLASS, _NO_NUMERIC)
    k = d.n_classes
    x = d.num[:, use]
    valid = ~np.isnan(x)
    # Centred columns keep the sums of squares below free of cancellation.
    dev = np.where(valid, x - _column_moments(d)[1][use], 0.0)
    n_k = class_sums(d.y, k, valid.astype(float))
    s_k = class_sums(d.y, k, dev)
    q_k = class_sums(d.y, k, dev * dev)
    n_safe = np.where(n_k > 0, n_k, 1.0)
    total = q_k.sum(axis=0) - s_k.sum(axis=0) ** 2 / valid.sum(axis=0)
    between = (s_k**2 / n_safe).sum(axis=0) - s_k.sum(axis=0) ** 2 / valid.sum(axis=0)
    out = summarize(between / total, "eta2", _NO_NUMERIC, ("mean", "sd", "max"))
    # Largest within-class sd relative to the pooled within-class sd, over classes with
    # at least two values in the column.
    within_var = np.where(n_k >= 2, q_k / n_safe - (s_k / n_safe) ** 2, np.nan)
    dof = valid.sum(axis=0) - np.count_nonzero(n_k > 0, axis=0)
    pooled = (total - between) / np.where(dof > 0, dof, np.nan)
    with_spread = (pooled > 0) & np.isfinite(within_var).any(axis=0)
    if with_spread.any():
        largest = np.sqrt(np.nanmax(within_var[:, with_spread], axis=0))
        out["class_sd_ratio_mean"] = float(np.mean(largest / np.sqrt(pooled[with_spread])))
    else:
        out["class_sd_ratio_mean"] = "no column varies within classes"
    out.update(_discriminants(d))
    return out


def _discriminants(d: Prepared) -> Features:
    """Canonical correlations from the generalised eigenproblem B v = l W v."""
    z = standardized(d)
    k = d.n_classes
    if k < 2:
        return undefined(["can_cor_first", "wilks_lambda", "lda_first_share"], "one class")
    counts = np.bincount(d.y, minlength=k).astype(float)
    means = class_sums(d.y, k, z) / np.where(counts > 0, counts, 1.0)[:, None]
    between = (means.T * counts) @ means
    within = z.T @ z - between
    q = z.shape[1]
    # A small ridge keeps W invertible with collinear columns or fewer rows than columns.
    ridge = 1e-6 * max(np.trace(within) / q, 1e-12)
    eigval = scipy.linalg.eigh(between, within + ridge * np.eye(q), eigvals_only=True)
    eigval = np.clip(eigval[::-1][: min(q, k - 1)], 0.0, None)
    total = eigval.sum()
    return {
        "can_cor_first": float(np.sqrt(eigval[0] / (1.0 + eigval[0]))),
        "wilks_lambda": float(np.prod(1.0 / (1.0 + eigval))),
        "lda_first_share": ratio(eigval[0], total, "no discriminant direction"),
    }


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Column-wise ranks of ``x`` (no NaN), ties getting their average rank."""
    m, q = x.shape
    order = np.argsort(x, axis=0, kind="stable")
    s = np.take_along_axis(x, order, axis=0)
    new = np.ones((m, q), dtype=bool)
    new[1:] = s[1:] != s[:-1]
    # Flatten column by column: row 0 of every column opens a group, so ties never
    # cross columns.
    starts = new.T.ravel()
    group = np.cumsum(starts) - 1
    position = np.tile(np.arange(m, dtype=float), q)
    size = np.bincount(group)
    mean_rank = position[starts] + (size - 1) / 2.0 + 1.0
    ranks = np.empty_like(x, dtype=float)
    np.put_along_axis(ranks, order, mean_rank[group].reshape(q, m).T, axis=0)
    return ranks


def _correlations_with(z: np.ndarray, target: np.ndarray) -> np.ndarray:
    t = target - target.mean()
    return (z.T @ t) / (np.sqrt((z * z).sum(axis=0)) * np.sqrt(t @ t))


def _target_relation(d: Prepared) -> Features:
    y = d.y
    _, mean, m2, m3, m4 = central_moments(y[:, None])
    sd = float(np.sqrt(m2[0]))
    if sd == 0:
        return undefined(_TARGET, "the target is constant")
    skew, kurt = skew_kurt(m2, m3, m4)
    q1, q3 = np.quantile(y, [0.25, 0.75])
    iqr = q3 - q1
    out: Features = {
        "target_skew": float(skew[0]),
        "target_kurt": float(kurt[0]),
        "target_cv": sd / abs(mean[0]) if abs(mean[0]) > 1e-8 * sd else "the target has mean 0",
        "target_outlier_ratio": float(np.mean((y < q1 - 1.5 * iqr) | (y > q3 + 1.5 * iqr))),
    }
    if d.num_varying.any():
        x = d.num_imputed[:, d.num_varying]
        pearson = np.abs(_correlations_with(x - x.mean(axis=0), y))
        out.update(summarize(pearson, "target_corr_abs", _NO_NUMERIC, ("mean", "sd", "max")))
        ranks = average_ranks(standardized(d))
        y_ranks = average_ranks(y[:, None])[:, 0]
        spearman = np.abs(_correlations_with(ranks - ranks.mean(axis=0), y_ranks))
        out.update(summarize(spearman, "target_spearman_abs", _NO_NUMERIC, ("mean", "max")))
    else:
        out.update(undefined(_TARGET[4:9], _NO_NUMERIC))
    out["target_r2_ols"] = _ols_r2(d)
    out.update(_binned_eta(d))
    return out


def _ols_r2(d: Prepared) -> Value:
    columns = np.concatenate([pairwise_columns(d), d.num.shape[1] + np.arange(d.cat.shape[1])])
    x = d.design[:, columns]
    x = np.hstack([x - x.mean(axis=0), np.ones((len(x), 1))])
    y = d.y - d.y.mean()
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    residual = y - x @ coef
    return float(1.0 - (residual @ residual) / (y @ y))


def _binned_eta(d: Prepared) -> Features:
    codes, levels = d.binned
    y = d.y - d.y.mean()
    start = np.concatenate([[0], np.cumsum(levels)[:-1]])
    flat = (start[None, :] + codes).ravel()
    total = int(levels.sum())
    sums = np.bincount(flat, weights=np.repeat(y, codes.shape[1]), minlength=total)
    counts = np.bincount(flat, minlength=total)
    between = np.add.reduceat(sums**2 / np.maximum(counts, 1), start)
    eta = between / (y @ y)
    return summarize(eta, "target_eta_binned", "no column", ("mean", "max"))


STEPS = (
    Step(_moments, both(*_MOMENTS)),
    Step(_distribution, both(*_DISTRIBUTION)),
    Step(_pairwise, both(*_PAIRWISE)),
    Step(_class_separation, {"classification": _CLASS}),
    Step(_target_relation, {"regression": _TARGET}),
)
