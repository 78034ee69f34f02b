"""benchmarks/cost_growth.py: timing trials resumably, and scoring the cost model's
predictions of a family not tried yet."""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from corpus import write_corpus

from automl_meta.data import read_manifest
from automl_meta.metadataset.knowledge_base import KnowledgeBase
from automl_meta.sampler import MetaLearnedSampler

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
bench = importlib.import_module("cost_growth")


@pytest.fixture(scope="module")
def kb():
    return KnowledgeBase.load()


def test_trials_are_timed_at_each_size_once_and_a_rerun_reads_them_back(
        kb, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "SIZES", (100, 200))
    monkeypatch.setattr(bench, "FAMILIES", ("linear", "knn"))
    small = read_manifest(write_corpus(tmp_path, n_datasets=1))
    assert small["rows"].tolist() == [60]  # too few for 100 training rows: nothing to time
    assert bench.measure(small, kb, 30.0, tmp_path / "none.jsonl", log=lambda *_: None) == []
    frame = pd.DataFrame({"a": np.arange(300.0), "b": np.sin(np.arange(300.0))})
    frame["target"] = (frame["b"] > 0).astype(int)
    frame.to_csv(tmp_path / "big.csv", index=False)
    pd.DataFrame([{"name": "big", "path": "big.csv", "target": "target",
                   "task": "classification", "rows": 300, "features": 2}]).to_csv(
        tmp_path / "big_manifest.csv", index=False)
    manifest = read_manifest(tmp_path / "big_manifest.csv")
    cache = tmp_path / "timings.jsonl"
    records = bench.measure(manifest, kb, 30.0, cache, log=lambda *_: None)
    configs = bench.configurations(kb, "classification")
    assert set(configs) == {"linear", "knn"}
    assert len(records) == 2 * sum(len(v) for v in configs.values())
    assert {r["rows"] for r in records} == {100, 200}
    assert all(r["status"] == "ok" and r["seconds"] >= r["fit_seconds"] > 0
               for r in records)
    assert len(cache.read_text().splitlines()) == len(records)

    def refuse(*args, **kwargs):
        raise AssertionError("a timed trial was timed again")

    monkeypatch.setattr(bench, "evaluate", refuse)
    assert bench.measure(manifest, kb, 30.0, cache, log=lambda *_: None) == records


def test_a_configuration_that_runs_out_of_time_is_not_run_on_more_rows(
        kb, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "SIZES", (100, 200))
    monkeypatch.setattr(bench, "FAMILIES", ("linear",))

    class Late:
        status, ok, fit_seconds, predict_seconds = "timeout", False, [], []

    calls = []
    monkeypatch.setattr(bench, "evaluate", lambda *a, **k: calls.append(k) or Late())
    manifest = pd.DataFrame([{"name": "big", "path": "unused.csv", "task": "classification",
                              "rows": 300}])
    monkeypatch.setattr(bench, "load_manifest_entry", lambda entry: None)
    records = bench.measure(manifest, kb, 30.0, tmp_path / "t.jsonl", log=lambda *_: None)
    assert [r["rows"] for r in records] == [100] * len(calls) and calls
    assert all(r["status"] == "timeout" and r["seconds"] is None for r in records)


def model_times(kb, name: str, rows: int, families=("lightgbm", "random_forest", "knn")):
    """Records of ``name`` whose seconds are exactly what the shipped cost model (learned
    without the dataset's group) predicts at ``rows``, up to one dataset-wide factor."""
    train = kb.subset(bench.training_names(kb, [name]))
    features = kb.metafeatures.drop_duplicates("dataset", keep="last").set_index(
        "dataset").loc[name]
    costs = MetaLearnedSampler(metafeatures=features, task="classification",
                               knowledge_base=train, rows=rows,
                               time_left=lambda: 1.0)._costs
    configs = bench.configurations(kb, "classification")
    return [{"dataset": name, "task": "classification", "family": f, "params": p,
             "rows": rows, "status": "ok", "fit_seconds": None,
             "seconds": math.exp(2.0 + costs.relative(f, json.loads(p))
                                 + costs.growth[f] * costs.log_size)}
            for f in families for p in configs[f]]


def test_the_shipped_rule_is_exact_on_times_that_follow_its_model(kb):
    name = next(n for n in kb.datasets.loc[kb.datasets["task"] == "classification", "name"]
                if n in set(kb.metafeatures["dataset"]))
    records = model_times(kb, name, 24000)
    late = {**records[0], "family": "svm", "status": "timeout", "seconds": None,
            "params": bench.configurations(kb, "classification")["svm"][0]}
    table = bench.predictions([*records, late], kb, 60.0)
    ok = table[table["status"] == "ok"]
    # Each of 3 families calibrates the others' 2 x 3 configurations, under every rule.
    assert len(ok) == 3 * 6 * len(bench.RULES)
    # (durations are timed to the microsecond)
    assert ok.loc[ok["rule"] == "shipped", "error"].abs().max() < 1e-6
    assert ok.loc[ok["rule"] == "no correction", "error"].abs().max() > 0.1
    # The timed-out SVM is predicted from each family under each rule, and scored apart.
    assert (table["status"] == "timeout").sum() == 3 * len(bench.RULES)
    summary = bench.summarise(table).set_index("rule")
    assert summary.loc["shipped", "median_abs_log2"] < 1e-6
    assert summary.loc["shipped", "under_2x"] == summary.loc["shipped", "over_2x"] == 0
    assert summary.loc["shipped", "timeouts"] == 3
    text = bench.markdown(bench.summarise(table), bench.growth_table(records),
                          {"classification": {}, "regression": {}},
                          {"command": "python benchmarks/cost_growth.py", "seconds": 1.0,
                           "trial_seconds": 60.0, "datasets": 1, "time_limit": 60.0})
    assert "| 24,000 | shipped | 1 | 18 | 0.00 | 0% | 0% | 3 |" in text
