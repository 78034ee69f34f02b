"""benchmarks/preprocessing.py: both arms timed on the same output, and its report."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

import automl_meta.spaces as spaces
from automl_meta.evaluation import make_folds

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
preprocessing = importlib.import_module("preprocessing")


def test_the_benchmark_times_both_arms_and_restores_the_shipped_pipelines(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setattr(preprocessing, "SHAPES", ((60, 12, 4),))
    preprocessing.main(["--repeats", "2", "--out", str(tmp_path), "--name", "tiny"])
    assert all(getattr(spaces, name) is value
               for name, value in preprocessing.SHIPPED.items())
    report = json.loads((tmp_path / "tiny.json").read_text())
    assert report["command"] == "python benchmarks/preprocessing.py --name tiny"
    assert [(r["what"], r["family"]) for r in report["summary"]] == list(
        preprocessing.TASKS)
    assert len(report["records"]) == len(preprocessing.TASKS) * 2 * 2
    for row in report["summary"]:
        assert row["ratio"] == pytest.approx(row["before"] / row["shipped"])
    assert "| 60 | 12 | 4 | preprocess | knn |" in (tmp_path / "tiny.md").read_text()


def test_the_before_arm_uses_scikit_learns_selection_and_encoders(monkeypatch):
    dataset = preprocessing.synthetic(80, 6, 3)
    assert list(dataset.X.dtypes.astype(str)).count("category") == 3
    assert dataset.X.isna().to_numpy().any()
    folds = make_folds(dataset, 5, seed=0)
    seen = []
    original = spaces.build_pipeline

    def spy(*args, **kwargs):
        seen.append(original(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(spaces, "build_pipeline", spy)
    before = preprocessing.run("before", "preprocess", "knn", dataset, folds)[1]
    shipped = preprocessing.run("shipped", "preprocess", "knn", dataset, folds)[1]
    kinds = [[type(t).__name__ for _, t, _ in pipe[0].transformers][1] for pipe in seen]
    assert kinds == ["OneHotEncoder"] * 5 + ["_OneHot"] * 5
    assert preprocessing.same(before, shipped)
    assert not preprocessing.same(before, [x + 1 for x in shipped])
