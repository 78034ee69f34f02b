"""benchmarks/pooled_end_to_end.py: reports pooled by mean score, shared runs counted once."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
pooled = importlib.import_module("pooled_end_to_end")


def record(dataset: str, method: str, score: float, seed: int = 0, search: str = "a") -> dict:
    budgeted = method in ("automl_meta", "optuna_tpe", "flaml")
    return {"dataset": dataset, "task": "classification", "method": method,
            "budget": 30.0 if budgeted else None, "seed": seed, "metric": "roc_auc",
            "score": score, "fit_seconds": 1.0, "status": "ok", "error": None,
            "n_train": 75, "n_test": 25, "details": {}, "search": search, "data": "d"}


def write_report(path: Path, records: list[dict]) -> Path:
    datasets = sorted({r["dataset"] for r in records})
    path.write_text(json.dumps({
        "run_datasets": datasets, "records": records,
        "summary": {"budgets": {"30": {"mean_rank": {"automl_meta": 1.0}}}}}))
    return path


def test_two_runs_are_pooled_by_their_mean_score(tmp_path):
    # On d1 automl_meta wins the first run by a little and loses the second by a lot:
    # pooled, TPE is ahead there. The LightGBM run is in both reports, counted once.
    lightgbm = [record("d1", "lightgbm_default", 0.5), record("d2", "lightgbm_default", 0.5)]
    first = write_report(tmp_path / "a.json", [
        record("d1", "automl_meta", 0.81), record("d1", "optuna_tpe", 0.80),
        record("d2", "automl_meta", 0.90), record("d2", "optuna_tpe", 0.70), *lightgbm])
    second = write_report(tmp_path / "b.json", [
        record("d1", "automl_meta", 0.70, search="b"), record("d1", "optuna_tpe", 0.80),
        record("d2", "automl_meta", 0.90, search="b"), record("d2", "optuna_tpe", 0.72),
        *lightgbm])
    assert pooled.main([str(first), str(second), "--out", str(tmp_path), "--name", "p"]) == 0
    report = json.loads((tmp_path / "p.json").read_text())
    comp = report["summary"]["budgets"]["30"]
    assert comp["scores"]["d1"]["automl_meta"] == pytest.approx(0.755)
    assert comp["scores"]["d2"]["optuna_tpe"] == pytest.approx(0.71)
    assert comp["wins_ties_losses"]["optuna_tpe"] == {"wins": 1, "ties": 0, "losses": 1}
    # optuna_tpe's d1 record is the same run in both reports: counted once.
    assert "automl_meta 4, optuna_tpe 3, lightgbm_default 2" in report["settings_text"]
    text = (tmp_path / "p.md").read_text()
    assert "python benchmarks/pooled_end_to_end.py" in text and "## Budget 30 s" in text


def test_reports_of_other_datasets_or_without_records_are_refused(tmp_path):
    a = write_report(tmp_path / "a.json", [record("d1", "automl_meta", 0.8)])
    b = write_report(tmp_path / "b.json", [record("d2", "automl_meta", 0.8)])
    with pytest.raises(SystemExit, match="ran other datasets than .*a.json: d1, d2"):
        pooled.main([str(a), str(b), "--out", str(tmp_path)])
    for missing in ("records", "run_datasets"):
        broken = json.loads(a.read_text())
        del broken[missing]
        (tmp_path / "c.json").write_text(json.dumps(broken))
        with pytest.raises(SystemExit, match=f"no {missing}"):
            pooled.main([str(a), str(tmp_path / "c.json"), "--out", str(tmp_path)])
    with pytest.raises(SystemExit):  # argparse: one report is nothing to pool
        pooled.main([str(a)])
