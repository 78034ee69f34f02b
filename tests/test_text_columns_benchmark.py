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
    monkeypatch.setattr(text_columns, "SHAPES",
                        ((300, 4, "categories"), (300, 2, "numbers and dates")))
    text_columns.main(["--repeats", "2", "--out", str(tmp_path), "--name", "tiny"])
    assert all(getattr(*key) is value for key, value in text_columns.SHIPPED.items())
    report = json.loads((tmp_path / "tiny.json").read_text())
    assert report["command"] == "python benchmarks/text_columns.py --name tiny"
    assert [r["what"] for r in report["summary"]] == ["prepare_X", "predict"] * 2
    assert len(report["records"]) == 2 * 2 * 2 * 3
    text = (tmp_path / "tiny.md").read_text()
    assert "| 300 | 4 | categories | prepare_X |" in text
    assert "| 300 | 2 | numbers and dates | predict |" in text


def test_the_earlier_arms_run_the_previous_functions(monkeypatch):
    X = text_columns.frame(50, 4, "numbers and dates")
    assert data.prepare_X(X).dtypes.eq("float64").all()
    for arm, per_value in (("before", True), ("stop 44", False)):
        calls = []

        def counted(col, per_value, calls=calls):
            calls.append((col.name, per_value))
            return "numeric"

        monkeypatch.setattr(text_columns, "_column_kind_before", counted)
        prepared = text_columns.run(arm, data.prepare_X, X)[1]
        assert calls == [(f"t{j}", per_value) for j in range(4)]
        pd.testing.assert_frame_equal(prepared, text_columns.run("shipped", data.prepare_X,
                                                                 X)[1])
        assert data._numeric is text_columns.SHIPPED[(data, "_numeric")]
