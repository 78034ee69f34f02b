"""benchmarks/fold_models_memory.py: each arm in a fresh process, and its report."""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
fold_models_memory = importlib.import_module("fold_models_memory")


def test_the_benchmark_measures_each_arm_and_reports_the_fold_models_back(tmp_path,
                                                                         monkeypatch):
    monkeypatch.setattr(fold_models_memory, "CASES", ((300, 4, "linear"),))
    fold_models_memory.main(["--repeats", "1", "--out", str(tmp_path), "--name", "tiny"])
    report = json.loads((tmp_path / "tiny.json").read_text())
    assert report["command"] == "python benchmarks/fold_models_memory.py --name tiny"
    assert [r["arm"] for r in report["records"]] == ["none", "far", "kept"]
    assert all(r["status"] == "ok" and r["peak_mb"] >= 0 for r in report["records"])
    (row,) = report["summary"]
    # Only a CV whose refit could not end in time hands its 5 fold models back.
    assert (row["none_models"], row["far_models"], row["kept_models"]) == (0, 0, 5)
    # On data this small the CV may not raise the process's peak at all (0 MB): no ratio.
    assert (math.isnan(row["kept_ratio"]) if row["none_mb"] == 0
            else row["kept_ratio"] == pytest.approx(row["kept_mb"] / row["none_mb"]))
    assert "| 300 | 4 | linear |" in (tmp_path / "tiny.md").read_text()
