"""benchmarks/text_columns.py: both arms timed on the same output, and its report."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pandas as pd

import automl_meta.data as data

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
text_columns = importlib.import_module("text_columns")


def test_the_benchmark_times_both_arms_and_restores_the_shipped_functions(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setattr(text_columns, "SHAPES", ((300, 4),))
    text_columns.main(["--repeats", "2", "--out", str(tmp_path), "--name", "tiny"])
    assert all(getattr(*key) is value for key, value in text_columns.SHIPPED.items())
    report = json.loads((tmp_path / "tiny.json").read_text())
    assert report["command"] == "python benchmarks/text_columns.py --name tiny"
    assert [r["what"] for r in report["summary"]] == ["prepare_X", "predict"]
    assert len(report["records"]) == 2 * 2 * 2
    assert "| 300 | 4 | prepare_X |" in (tmp_path / "tiny.md").read_text()


def test_the_before_arm_runs_the_previous_functions():
    X = text_columns.frame(50, 2)
    calls = []
    previous = text_columns._text_categories_before

    def counted(col):
        calls.append(col.name)
        return previous(col)

    text_columns.BEFORE[(data, "text_categories")] = counted
    try:
        before = text_columns.run("before", data.prepare_X, X)[1]
    finally:
        text_columns.BEFORE[(data, "text_categories")] = previous
    assert calls == ["t0", "t1"]
    pd.testing.assert_frame_equal(before, text_columns.run("shipped", data.prepare_X, X)[1])
    assert data.text_categories is text_columns.SHIPPED[(data, "text_categories")]
