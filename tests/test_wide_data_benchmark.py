"""benchmarks/wide_data.py: both ways of selecting columns, timed, and its report."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

import automl_meta.spaces as spaces

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
wide_data = importlib.import_module("wide_data")


def test_the_benchmark_times_both_arms_and_restores_the_shipped_selector(tmp_path,
                                                                         monkeypatch):
    monkeypatch.setattr(wide_data, "SHAPES", ((40, 30, 0.2),))
    wide_data.main(["--repeats", "2", "--out", str(tmp_path), "--name", "tiny"])
    assert spaces._Columns is wide_data.SHIPPED
    report = json.loads((tmp_path / "tiny.json").read_text())
    assert report["command"] == "python benchmarks/wide_data.py --name tiny"
    assert [(r["family"], r["rows"], r["columns"]) for r in report["summary"]] == [
        ("knn", 40, 30), ("linear", 40, 30)]
    assert len(report["records"]) == 2 * 2 * 2
    for row in report["summary"]:
        assert row["ratio"] == pytest.approx(row["names"] / row["positions"])
    assert "| 40 x 30 | 20% | knn |" in (tmp_path / "tiny.md").read_text()


def test_the_arms_build_the_same_pipelines_but_for_the_selector():
    dataset = wide_data.synthetic(30, 20, 0.1)
    assert list(dataset.X.dtypes.astype(str)).count("category") == 2
    names = wide_data._Names(["a", "b"])
    assert names == ["a", "b"] and names.names == ["a", "b"]
    seconds, scores = wide_data.run("names", "knn", dataset)
    assert seconds > 0 and scores == wide_data.run("positions", "knn", dataset)[1]
    assert spaces._Columns is wide_data.SHIPPED
