"""Shared constants and small synthetic data for the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from automl_meta.data import Dataset, make_dataset

#: The shared corpus of real datasets (manifest.csv, pmlb/, raw/), next to the checkout.
DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"

requires_datasets = pytest.mark.skipif(
    not (DATASETS / "manifest.csv").is_file(), reason=f"no dataset corpus at {DATASETS}"
)

#: Categories of the high-cardinality column (more than ONE_HOT_MAX_CATEGORIES = 10).
HIGH_CARD = [f"h{i:02d}" for i in range(15)]


def mixed_frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """Numeric (with NaN), low-cardinality and high-cardinality categorical columns."""
    rng = np.random.default_rng(seed)
    num1 = rng.normal(size=n)
    num1[::7] = np.nan
    num2 = rng.uniform(0, 10, size=n)
    low = rng.choice(["red", "green", "blue"], size=n).astype(object)
    low[3::11] = None
    high = np.array([HIGH_CARD[i % len(HIGH_CARD)] for i in range(n)], dtype=object)
    rng.shuffle(high)
    high[5::13] = None
    return pd.DataFrame({
        "num1": num1,
        "num2": num2,
        "low": pd.Categorical(low),
        "high": pd.Categorical(high),
    })


def mixed_target(X: pd.DataFrame, task: str, seed: int = 0, n_classes: int = 2) -> pd.Series:
    """A target that depends on the features: string classes or a float value."""
    rng = np.random.default_rng(seed + 1)
    signal = np.nan_to_num(X["num1"].to_numpy()) + 0.2 * X["num2"].to_numpy()
    signal = signal + (X["low"].astype(object) == "red").to_numpy() + rng.normal(
        scale=0.3, size=len(X))
    if task == "regression":
        return pd.Series(signal, name="y")
    edges = np.quantile(signal, np.linspace(0, 1, n_classes + 1)[1:-1])
    codes = np.searchsorted(edges, signal)
    return pd.Series(np.array(["c0", "c1", "c2", "c3"])[codes], name="y")


@pytest.fixture
def classification_data() -> Dataset:
    X = mixed_frame(60)
    return make_dataset(X, mixed_target(X, "classification"), name="cls")


@pytest.fixture
def regression_data() -> Dataset:
    X = mixed_frame(60)
    return make_dataset(X, mixed_target(X, "regression"), name="reg")


@pytest.fixture
def numeric_classification() -> Dataset:
    """60 rows, two informative numeric features, balanced binary integer target."""
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    y = (X["a"] + 0.5 * rng.normal(size=60) > 0).astype(int)
    return make_dataset(X, y, name="numeric")


@pytest.fixture
def single_thread():
    """One OpenMP/BLAS thread: oversubscribed threads make tiny fits take seconds."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="session")
def meta_trained():
    """The synthetic knowledge base of ``synthetic.py`` and a meta-learner trained on it
    (shared by the recommendation and sampler tests: training takes ~30 s)."""
    from synthetic import synthetic_kb

    from automl_meta.metalearner import MetaLearner

    kb = synthetic_kb()
    learner = MetaLearner("reptile", steps=250, n_members=3, hidden_size=32, seed=0,
                          device="cpu").fit(kb)
    return kb, learner
