"""benchmarks/fidelity.py: the comparison at several sample sizes and its report."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from sklearn.datasets import make_classification

from automl_meta.data import make_dataset
from automl_meta.spaces import default_params

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
fidelity = importlib.import_module("fidelity")


def test_compare_scores_both_at_each_size_and_the_report_counts_flips():
    X, y = make_classification(n_samples=400, n_features=6, random_state=0)
    dataset = make_dataset(X, y, task="classification", name="toy")
    pick = ("linear", {**default_params("linear", "classification"), "C": 0.01})
    sizes = fidelity.compare(dataset, pick, [100, 400], cv=2, time_limit=60)
    assert set(sizes) == {"100", "400"}
    for scores in sizes.values():
        assert 0.5 <= scores["pick"] <= 1 and 0.5 <= scores["lightgbm_default"] <= 1
        assert scores["pick_wins"] == (scores["pick"] > scores["lightgbm_default"])
    flipped = {"100": {"pick": 0.9, "lightgbm_default": 0.8, "pick_wins": True},
               "400": {"pick": 0.8, "lightgbm_default": 0.9, "pick_wins": False}}
    records = [{"dataset": d, "task": "classification", "n_rows": 400, "metric": "roc_auc",
                "family": "linear", "params": {}, "sizes": s}
               for d, s in (("toy", sizes), ("flipped", flipped))]
    meta = {"command": "python benchmarks/fidelity.py", "fold": 0, "folds": 5,
            "min_rows": 100, "rows": [100, 400], "cv": 2, "n_train": 3, "seconds": 1.0}
    report = fidelity.markdown(records, meta)
    assert "the order flips between 100 and 400 rows on" in report
    flips = 1 + (sizes["100"]["pick_wins"] != sizes["400"]["pick_wins"])
    assert f"on {flips} of 2 datasets" in report
    assert "| flipped | 400 | roc_auc | linear | 0.9 | 0.8 | 0.8 | 0.9 |" in report
