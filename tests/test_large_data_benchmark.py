"""benchmarks/large_data.py on small shapes: its data, its cache and its report."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
bench = importlib.import_module("large_data")


def test_wide_shapes_are_generated_as_asked():
    X, y, X_test, y_test = bench.make_data("classification", 50, 0, features=30,
                                           informative=5)
    assert X.shape == (50, 31) and X_test.shape == (10, 31)  # and the categorical column
    assert len(y) == 50 and len(y_test) == 10
    X, _, _, _ = bench.make_data("regression", 50, 0, features=30)
    assert X.shape == (50, 31)


def test_a_run_is_cached_and_reported_with_its_shape(tmp_path):
    argv = ["--rows", "200", "--features", "30", "--informative", "5", "--seeds", "1",
            "--tasks", "classification", "--methods", "lightgbm_default", "--cache",
            str(tmp_path / "cache"), "--out", str(tmp_path), "--name", "wide"]
    assert bench.main(argv) == 0
    report = (tmp_path / "wide.md").read_text()
    assert report.startswith("# 200 rows of 30 features under a short time budget")
    assert ("python benchmarks/large_data.py --rows 200 --features 30 --informative 5 "
            "--budget 60 --seeds 1 --methods lightgbm_default --name wide") in report
    [record] = json.loads((tmp_path / "wide.json").read_text())["records"]
    assert record["method"] == "lightgbm_default" and 0.5 < record["score"] <= 1.0
    # A second run finds the fit in the cache; another shape does not.
    [cache] = (tmp_path / "cache").iterdir()
    assert bench.main(argv) == 0 and len(cache.read_text().splitlines()) == 1
    assert bench.main([*argv[:3], "31", *argv[4:]]) == 0
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_a_search_whose_every_trial_failed_has_no_score():
    records = [
        {"task": "regression", "method": "optuna_tpe", "seed": 0, "fit_seconds": 60.1,
         "score": None, "error": "every trial failed (3)"},
        {"task": "regression", "method": "automl_meta", "seed": 0, "fit_seconds": 59.9,
         "score": 1.8, "trials": 15, "trials_ok": 12, "search_rows": 2000,
         "best_family": "lightgbm", "families_ok": ["lightgbm", "linear"], "not_refit": 1},
    ]
    settings = {"rows": 2000, "features": 2000, "informative": 40, "name": "wide_data",
                "budget": 60.0, "seeds": [0], "load": 1.0,
                "runs": [(1, ["automl_meta", "optuna_tpe"])]}
    lines = bench.report(records, settings).splitlines()
    assert "| optuna_tpe | - | 60.1 (60.1) | - | - | - | - |" in lines
    assert ("| automl_meta | 1.80000 (1.80000) | 59.9 (59.9) | 15 (15); with a score 12 | "
            "2,000 (2,000) | lightgbm, linear | 1 |") in lines
