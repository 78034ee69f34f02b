"""benchmarks/zero_shot_ceiling.py on a small synthetic knowledge base with two sample
sizes, where LightGBM's default configuration is one of the evaluated ones."""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthetic import TASK, auc_at, two_sample_sizes_kb

from automl_meta.spaces import default_params, to_unit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
bench = importlib.import_module("zero_shot_ceiling")
DEFAULT_ID = 999


def with_lightgbm_default(kb):
    """``kb`` with LightGBM's default configuration evaluated wherever the others were,
    datasets renamed to distinct stems (``task000``... would be one group)."""
    params = default_params("lightgbm", TASK)
    unit = to_unit("lightgbm", TASK, params)
    latents = kb.metafeatures.set_index("dataset")[["mf_a", "mf_b"]]
    added = []
    for (name, max_rows), rows in kb.evaluations.groupby(["dataset", "max_rows"]):
        added.append({**rows.iloc[0].to_dict(), "family": "lightgbm", "config_id": DEFAULT_ID,
                      "roc_auc": auc_at(latents.loc[name].to_numpy(), "lightgbm", unit,
                                        int(max_rows))})
    rename = {n: f"set{chr(97 + i)}" for i, n in enumerate(kb.datasets["name"])}
    configurations = pd.concat([kb.configurations, pd.DataFrame([{
        "family": "lightgbm", "task": TASK, "config_id": DEFAULT_ID,
        "params": json.dumps(params), "origin": "default"}])], ignore_index=True)
    return dataclasses.replace(
        kb, datasets=kb.datasets.replace({"name": rename}),
        metafeatures=kb.metafeatures.replace({"dataset": rename}),
        configurations=configurations,
        evaluations=pd.concat([kb.evaluations, pd.DataFrame(added)], ignore_index=True)
        .replace({"dataset": rename}))


def run_briefly(kb, cache: Path) -> list[dict]:
    """``bench.run`` with a short meta-training: the tests are about the protocol."""
    real = bench.trained
    try:
        bench.trained = lambda kb, method, steps, names, cache, seed: real(
            kb, method, 100, names, cache, seed)
        return bench.run(kb, folds=2, cache=cache, log=lambda *_: None)
    finally:
        bench.trained = real


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    kb = with_lightgbm_default(two_sample_sizes_kb(n_tasks=12))
    return kb, run_briefly(kb, tmp_path_factory.mktemp("learners"))


def test_every_rule_picks_on_every_held_out_pool_of_each_size(result):
    kb, records = result
    frame = pd.DataFrame(records)
    names = set(kb.datasets["name"])
    extended = set(kb.evaluations.loc[kb.evaluations["max_rows"] == 8000, "dataset"])
    assert len(extended) == 6
    for rule in bench.RULES:
        at = frame[frame["rule"] == rule]
        assert set(at.loc[at["max_rows"] == 1000, "dataset"]) == names
        assert set(at.loc[at["max_rows"] == 8000, "dataset"]) == extended
        assert not at.duplicated(["dataset", "max_rows"]).any()


def test_outcomes_compare_with_lightgbm_s_default_of_the_same_pool(result):
    kb, records = result
    scores = kb.scores()
    default = scores[(scores["family"] == "lightgbm") & (scores["config_id"] == DEFAULT_ID)]
    expected = default.set_index(["dataset", "max_rows"])["loss"]
    for record in records:
        assert record["default_loss"] == pytest.approx(
            expected[(record["dataset"], record["max_rows"])])
        sign = np.sign(record["default_loss"] - record["loss"])
        assert record["outcome"] in (0, sign)
    frame = pd.DataFrame(records)
    # The oracle never loses; the rule that looks for a winner never picks the default.
    assert (frame.loc[frame["rule"] == "oracle", "outcome"] >= 0).all()
    likeliest = frame[frame["rule"] == "likeliest to beat LightGBM's default"]
    assert not any(r["family"] == "lightgbm" and r["params"] == default_params(
        "lightgbm", TASK) for _, r in likeliest.iterrows())
    # The LightGBM-only rules pick among LightGBM's configurations; the one that looks
    # for a winner, among those other than the default.
    for rule in ("meta-learner's top LightGBM", "LightGBM likeliest to beat its default"):
        assert (frame.loc[frame["rule"] == rule, "family"] == "lightgbm").all()
    tuned = frame[frame["rule"] == "LightGBM likeliest to beat its default"]
    assert not any(params == default_params("lightgbm", TASK) for params in tuned["params"])
    # On this knowledge base the default is never the best, so the oracle always wins.
    assert (frame.loc[frame["rule"] == "oracle", "outcome"] == 1).all()


def test_summary_counts_and_report(result):
    _, records = result
    summary = bench.summarise(records)
    assert list(summary["rule"].unique()) == list(bench.RULES)
    assert (summary.loc[summary["rule"] == "oracle", "mean relative gain"] > 0).all()
    assert ((summary["wins"] + summary["ties"] + summary["losses"])
            == summary["datasets"]).all()
    assert set(summary["datasets"]) == {12, 6}
    text = bench.markdown(summary, {"command": "python x", "seconds": 1.0, "folds": 2})
    assert "## Pools of at most 1,000 rows (12 datasets)" in text
    assert "## Pools of at most 8,000 rows (6 datasets)" in text
    assert text.count("| oracle |") == 2


def test_lightgbm_s_default_is_found_by_its_origin_and_a_pool_without_it_is_skipped(
        result, tmp_path):
    kb, records = result
    assert bench.reference_keys(kb) == {TASK: ("lightgbm", DEFAULT_ID)}
    pools = bench.pools_of(kb.scores(), 2)
    pool = pools["seta"]
    assert pool.params[bench.position(pool, ("lightgbm", DEFAULT_ID))] == default_params(
        "lightgbm", TASK)
    assert bench.position(pool, ("lightgbm", 12345)) is None
    # Without LightGBM's default among its evaluations a dataset cannot be judged.
    held = kb.evaluations
    without = dataclasses.replace(kb, evaluations=held[~((held["dataset"] == "seta") & (
        held["config_id"] == DEFAULT_ID))])
    assert "seta" in {r["dataset"] for r in records}
    rerun = run_briefly(without, tmp_path)
    assert "seta" not in {r["dataset"] for r in rerun}
    assert {r["dataset"] for r in rerun} == {r["dataset"] for r in records} - {"seta"}
