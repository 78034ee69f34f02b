"""Landmarking: cross-validated scores of fast, simple models.

Every model sees the same data: at most :data:`LANDMARK_ROWS` rows of the subsample
(stratified, fixed seed), median-imputed numeric columns and ordinal-coded categoricals
(missing = -1), standardised once on that sample, constant columns dropped. Scores pool
the out-of-fold predictions of :data:`N_FOLDS`-fold (stratified) cross-validation.
Nearest neighbours, naive Bayes, LDA and the ridge models are closed-form numpy; the
stumps and shallow trees are scikit-learn's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from automl_meta.metafeatures._base import Features, Step, ratio, undefined
from automl_meta.metafeatures._prepare import Prepared, sample_rows

#: Rows used for landmarking; more buys little precision for a lot of time.
LANDMARK_ROWS = 2000

N_FOLDS = 3

#: Ridge penalty of the linear models and relative shrinkage of LDA's covariance.
RIDGE_ALPHA = 1.0
LDA_SHRINKAGE = 1e-3

_CLF_MODELS = {
    "one_nn": "1-nearest neighbour",
    "elite_nn": "1-nearest neighbour on the ceil(sqrt(p)) columns with the largest "
    "correlation ratio on the training folds",
    "stump": "decision stump (best single split)",
    "random_node": "decision stump on one column drawn with the fixed seed",
    "naive_bayes": "Gaussian naive Bayes",
    "lda": "linear discriminant analysis (slightly shrunk covariance)",
    "tree_d3": "decision tree of depth 3",
    "linear": "ridge classifier (one-vs-rest least squares, alpha=1)",
}
_REG_MODELS = {
    "one_nn": "1-nearest-neighbour regressor",
    "elite_nn": "1-nearest-neighbour regressor on the ceil(sqrt(p)) columns most "
    "correlated with the target on the training folds",
    "stump": "regression stump (best single split)",
    "random_node": "regression stump on one column drawn with the fixed seed",
    "linear": "ridge regression (alpha=1)",
    "tree_d3": "regression tree of depth 3",
}

DESCRIPTIONS = {
    "lm_majority_acc": f"{N_FOLDS}-fold CV accuracy of predicting the majority class.",
    **{f"lm_{k}_acc": f"{N_FOLDS}-fold CV accuracy of a {v}." for k, v in _CLF_MODELS.items()},
    **{f"lm_{k}_bacc": f"{N_FOLDS}-fold CV balanced accuracy of a {v}."
       for k, v in _CLF_MODELS.items()},
    **{f"lm_{k}_r2": f"{N_FOLDS}-fold CV R2 of a {v}." for k, v in _REG_MODELS.items()},
    **{f"lm_{k}_rae": f"{N_FOLDS}-fold CV relative absolute error of a {v} (vs the median)."
       for k, v in _REG_MODELS.items()},
}

LOG_SCALED: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Landmark:
    """The landmarking sample: standardised design ``x``, target ``y``, fold ids."""

    x: np.ndarray
    y: np.ndarray
    folds: np.ndarray
    k: int


def landmark_data(d: Prepared) -> Landmark:
    """Draw the landmarking sample and its folds (cached on ``d``)."""

    def compute() -> Landmark:
        rng = d.rng("landmarking")
        classes = d.y if d.task == "classification" else None
        rows = np.arange(d.n_sample)
        if d.n_sample > LANDMARK_ROWS:
            rows = sample_rows(d.n_sample, LANDMARK_ROWS, rng, classes)
        x = d.design[rows]
        sd = x.std(axis=0)
        keep = sd > 0
        x = (x[:, keep] - x[:, keep].mean(axis=0)) / sd[keep]
        y = d.y[rows]
        # Rows grouped by class in random order, then dealt round-robin to the folds:
        # every class is spread as evenly as it can be.
        order = rng.permutation(len(rows))
        if classes is not None:
            order = order[np.argsort(y[order], kind="stable")]
        folds = np.empty(len(rows), dtype=np.int64)
        folds[order] = np.arange(len(rows)) % N_FOLDS
        return Landmark(x=x, y=y, folds=folds, k=d.n_classes)

    return d.memo("landmark", compute)


Model = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def out_of_fold(data: Landmark, model: Model) -> np.ndarray:
    """Pooled out-of-fold predictions of ``model(x_train, y_train, x_test)``."""
    pred = np.empty(len(data.y), dtype=float)
    for fold in range(N_FOLDS):
        test = data.folds == fold
        pred[test] = model(data.x[~test], data.y[~test], data.x[test])
    return pred


# --- closed-form models --------------------------------------------------------------


def regularized_solve(u: np.ndarray, alpha: float, b: np.ndarray) -> np.ndarray:
    """``(u.T u + alpha I)^-1 b``, through the n x n dual system when ``u`` is wide."""
    n, p = u.shape
    if p <= n:
        return np.linalg.solve(u.T @ u + alpha * np.eye(p), b)
    # Woodbury: (alpha I + U'U)^-1 = (I - U' (alpha I + U U')^-1 U) / alpha
    return (b - u.T @ np.linalg.solve(u @ u.T + alpha * np.eye(n), u @ b)) / alpha


def _one_hot(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    return (y[:, None] == classes[None, :]).astype(float)


def _nearest(x_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Index of the nearest training row of every test row (squared Euclidean).

    Single precision halves the cost of the product, the bulk of the work; on
    standardised data it only reorders near-ties.
    """
    train, test = x_train.astype(np.float32), x_test.astype(np.float32)
    dist = (train * train).sum(axis=1)[None, :] - 2.0 * test @ train.T
    return np.argmin(dist, axis=1)


def one_nn(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """1-nearest-neighbour prediction (class or value of the nearest row)."""
    return y_train[_nearest(x_train, x_test)]


def _elite_columns(x: np.ndarray, y: np.ndarray, classification: bool) -> np.ndarray:
    """The ceil(sqrt(p)) columns most associated with the target on the training rows."""
    xc = x - x.mean(axis=0)
    ss = np.maximum((xc**2).sum(axis=0), 1e-12)
    if classification:
        classes, counts = np.unique(y, return_counts=True)
        sums = _one_hot(y, classes).T @ xc
        score = ((sums**2) / counts[:, None]).sum(axis=0) / ss  # correlation ratio
    else:
        yc = y - y.mean()
        score = (xc.T @ yc) ** 2 / ss  # squared correlation, up to a constant
    n_keep = int(np.ceil(np.sqrt(x.shape[1])))
    return np.argsort(-score, kind="stable")[:n_keep]


def _elite_nn(classification: bool) -> Model:
    def model(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
        cols = _elite_columns(x_train, y_train, classification)
        return one_nn(x_train[:, cols], y_train, x_test[:, cols])

    return model


def majority(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """The most frequent training class for every test row."""
    return np.full(len(x_test), np.argmax(np.bincount(y_train)), dtype=float)


def naive_bayes(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Gaussian naive Bayes with scikit-learn's variance smoothing (1e-9 x max var)."""
    classes, counts = np.unique(y_train, return_counts=True)
    onehot = _one_hot(y_train, classes)
    means = onehot.T @ x_train / counts[:, None]
    var = onehot.T @ (x_train**2) / counts[:, None] - means**2
    var = np.clip(var, 0.0, None) + 1e-9 * max(float(x_train.var(axis=0).max()), 1e-12)
    inv = 1.0 / var
    loglik = (
        np.log(counts / counts.sum())
        - 0.5 * np.log(2 * np.pi * var).sum(axis=1)
        - 0.5 * ((means**2) * inv).sum(axis=1)
    )[None, :] - 0.5 * (x_test**2) @ inv.T + x_test @ (means * inv).T
    return classes[np.argmax(loglik, axis=1)]


def lda(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Linear discriminant analysis, pooled covariance shrunk towards the identity."""
    classes, counts = np.unique(y_train, return_counts=True)
    onehot = _one_hot(y_train, classes)
    means = onehot.T @ x_train / counts[:, None]
    centred = (x_train - onehot @ means) / np.sqrt(max(len(y_train) - len(classes), 1))
    coef = regularized_solve(centred, LDA_SHRINKAGE, means.T)
    score = (
        x_test @ coef - 0.5 * (means * coef.T).sum(axis=1)[None, :]
        + np.log(counts / counts.sum())[None, :]
    )
    return classes[np.argmax(score, axis=1)]


def ridge_classifier(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray
) -> np.ndarray:
    """One-vs-rest least squares on +-1 targets with an L2 penalty."""
    classes = np.unique(y_train)
    targets = 2.0 * _one_hot(y_train, classes) - 1.0
    mean_x, mean_t = x_train.mean(axis=0), targets.mean(axis=0)
    xc = x_train - mean_x
    coef = regularized_solve(xc, RIDGE_ALPHA, xc.T @ (targets - mean_t))
    return classes[np.argmax((x_test - mean_x) @ coef + mean_t, axis=1)]


def ridge_regression(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray
) -> np.ndarray:
    """Least squares with an L2 penalty and an unpenalised intercept."""
    mean_x, mean_y = x_train.mean(axis=0), y_train.mean()
    xc = x_train - mean_x
    coef = regularized_solve(xc, RIDGE_ALPHA, xc.T @ (y_train - mean_y))
    return (x_test - mean_x) @ coef + mean_y


def _tree(classification: bool, depth: int, seed: int) -> Model:
    cls = DecisionTreeClassifier if classification else DecisionTreeRegressor

    def model(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
        return cls(max_depth=depth, random_state=seed).fit(x_train, y_train).predict(x_test)

    return model


def _random_node(classification: bool, seed: int, column: int) -> Model:
    stump = _tree(classification, 1, seed)

    def model(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
        return stump(x_train[:, [column]], y_train, x_test[:, [column]])

    return model


# --- steps ---------------------------------------------------------------------------


def _build_model(name: str, d: Prepared, data: Landmark) -> Model:
    classification = d.task == "classification"
    if name == "random_node":
        column = int(d.rng("random-node").integers(data.x.shape[1]))
        return _random_node(classification, d.seed, column)
    if name in ("stump", "tree_d3"):
        return _tree(classification, 1 if name == "stump" else 3, d.seed)
    if name == "elite_nn":
        return _elite_nn(classification)
    table: dict[str, Model] = {
        "majority": majority, "one_nn": one_nn, "naive_bayes": naive_bayes, "lda": lda,
        "linear": ridge_classifier if classification else ridge_regression,
    }
    return table[name]


def _unusable(d: Prepared, data: Landmark, name: str) -> str | None:
    """Why the landmarker ``name`` cannot run on this data, or None."""
    if len(data.y) < 2 * N_FOLDS:
        return f"fewer than {2 * N_FOLDS} rows for {N_FOLDS}-fold cross-validation"
    if data.x.shape[1] == 0 and name != "majority":
        return "every column is constant"
    if d.task == "classification" and d.n_classes < 2:
        return "a single class"
    if d.task == "regression" and np.ptp(data.y) == 0:
        return "the target is constant"
    return None


def _classification_scores(name: str, data: Landmark, pred: np.ndarray) -> Features:
    correct = pred == data.y
    out: Features = {f"lm_{name}_acc": float(correct.mean())}
    if name != "majority":
        # Balanced accuracy: mean recall over the classes present.
        hits = np.bincount(data.y, weights=correct, minlength=data.k)
        sizes = np.bincount(data.y, minlength=data.k)
        out[f"lm_{name}_bacc"] = float(np.mean(hits[sizes > 0] / sizes[sizes > 0]))
    return out


def _regression_scores(name: str, data: Landmark, pred: np.ndarray) -> Features:
    y = data.y
    sse = float(((y - pred) ** 2).sum())
    sst = float(((y - y.mean()) ** 2).sum())
    baseline = float(np.abs(y - np.median(y)).sum())
    return {
        f"lm_{name}_r2": 1.0 - sse / sst,
        f"lm_{name}_rae": ratio(float(np.abs(y - pred).sum()), baseline,
                                "the target's median absolute deviation is 0"),
    }


def _landmark_step(name: str, task: str) -> Step:
    if task == "classification":
        names = (f"lm_{name}_acc",) if name == "majority" else (
            f"lm_{name}_acc", f"lm_{name}_bacc")
    else:
        names = (f"lm_{name}_r2", f"lm_{name}_rae")

    def run(d: Prepared) -> Features:
        data = landmark_data(d)
        reason = _unusable(d, data, name)
        if reason is not None:
            return undefined(names, reason)
        pred = out_of_fold(data, _build_model(name, d, data))
        if task == "classification":
            return _classification_scores(name, data, pred)
        return _regression_scores(name, data, pred)

    run.__name__ = f"landmark_{name}"
    return Step(run, {task: names})


STEPS = (
    _landmark_step("majority", "classification"),
    *(_landmark_step(name, "classification") for name in _CLF_MODELS),
    *(_landmark_step(name, "regression") for name in _REG_MODELS),
)
