"""benchmarks/metalearner.py on a small synthetic knowledge base: every method runs, and a
rerun reuses what it may: the baselines always, the surrogate searches only while the
meta-learner's code is unchanged."""

from __future__ import annotations

import dataclasses
import importlib
import sys
from pathlib import Path

import pytest
from synthetic import synthetic_kb

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
bench = importlib.import_module("metalearner")


@pytest.fixture(scope="module")
def kb():
    kb = synthetic_kb(n_tasks=12)
    # Distinct name stems: "task000".."task011" would all be one group of near-duplicates.
    rename = {f"task{t:03d}": f"set{chr(97 + t)}" for t in range(12)}
    return dataclasses.replace(
        kb, datasets=kb.datasets.replace({"name": rename}),
        metafeatures=kb.metafeatures.replace({"dataset": rename}),
        evaluations=kb.evaluations.replace({"dataset": rename}))


def _fail(*args, **kwargs):
    raise AssertionError("recomputed although cached")


def test_every_method_runs_then_a_rerun_redoes_only_what_changed(kb, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "QUICK_STEPS", {"joint": 100, "reptile": 10, "maml": 5})
    monkeypatch.setattr(bench, "BUDGETS", (1, 3, 10))
    first = bench.run(kb, folds=2, seeds=1, quick=True, gp_every=1000, cache=tmp_path,
                      log=lambda *_: None, progress=False)
    methods = {r["method"] for r in first["records"]}
    assert {f"meta-learner ({m})" for m in bench.METHODS} <= methods
    assert {"random search", "Optuna TPE", "greedy portfolio", "kNN warm start + TPE",
            "surrogate from scratch", "best single default"} <= methods
    datasets = {r["dataset"] for r in first["records"]}
    assert len(datasets) == first["n_test_datasets"] > 0
    for record in first["records"]:
        assert len(record["regret"]) == max(bench.BUDGETS)
        assert 0 <= min(record["regret"]) <= max(record["regret"]) <= 1

    # Same code and settings: nothing is trained or searched again.
    trained, search = bench.trained, bench.surrogate_search
    monkeypatch.setattr(bench, "trained", _fail)
    monkeypatch.setattr(bench, "surrogate_search", _fail)
    monkeypatch.setattr(bench, "optuna_search", _fail)
    again = bench.run(kb, folds=2, seeds=1, quick=True, gp_every=1000, cache=tmp_path,
                      log=lambda *_: None, progress=False)
    assert again["records"] == first["records"]

    # Other sampler code: the surrogate searches run again, the baselines do not, and
    # the meta-learners (whose own code is the same) are not trained again.
    learners = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    monkeypatch.setattr(bench, "trained", trained)
    monkeypatch.setattr(bench, "code_version", lambda: "changed")
    calls = []
    monkeypatch.setattr(bench, "surrogate_search",
                        lambda *a, **k: calls.append(1) or search(*a, **k))
    changed = bench.run(kb, folds=2, seeds=1, quick=True, gp_every=1000, cache=tmp_path,
                        log=lambda *_: None, progress=False)
    # + without hand-over, zero-shot, scratch
    assert len(calls) == len(datasets) * (len(bench.METHODS) + 3)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == learners
    key = ("dataset", "method")
    assert sorted(tuple(r[k] for k in key) for r in changed["records"]) == sorted(
        tuple(r[k] for k in key) for r in first["records"])


def test_pools_are_the_base_protocol_and_surrogates_predict_for_its_rows(monkeypatch):
    from synthetic import two_sample_sizes_kb

    kb = two_sample_sizes_kb(n_tasks=4)
    base = bench.base_protocol(kb)
    assert set(base.evaluations["max_rows"]) == {1000} and "extensions" not in base.manifest
    pools = bench.pools_of(base.scores(), 2)
    assert sorted(pools) == sorted(kb.datasets["name"])
    assert {p.rows for p in pools.values()} == {1000.0}
    learner = bench.MetaLearner(steps=0, n_members=2, hidden_size=16, device="cpu").fit(kb)
    rows_asked = []
    for name in ("predict", "adapt"):
        method = getattr(learner, name)

        def spy(*args, _method=method, **kwargs):
            rows_asked.append(kwargs.get("rows"))
            return _method(*args, **kwargs)

        monkeypatch.setattr(learner, name, spy)
    features = kb.metafeatures.set_index("dataset").loc["task000"]
    picks = bench.surrogate_search(learner, features, pools["task000"], 8, adapt=True)
    assert len(picks) == 8 and len(rows_asked) > 3 and set(rows_asked) == {1000.0}


def test_the_surrogate_search_hands_trials_over_as_the_sampler_does(monkeypatch):
    kb = synthetic_kb(n_tasks=4)
    pool = bench.pools_of(kb.scores(), 2)["task000"]
    features = kb.metafeatures.set_index("dataset").loc["task000"]
    learner = bench.MetaLearner(steps=0, n_members=2, hidden_size=16, device="cpu").fit(kb)
    proposed_at = []
    propose = bench.PoolStudy.propose

    def spy(self, picks):
        proposed_at.append(len(picks))
        return propose(self, picks)

    monkeypatch.setattr(bench.PoolStudy, "propose", spy)
    budget = bench.FALLBACK_AFTER + 9
    alone = bench.surrogate_search(learner, features, pool, budget, adapt=True,
                                   fallback_share=0.0)
    assert proposed_at == []
    handing = bench.surrogate_search(learner, features, pool, budget, adapt=True)
    assert proposed_at == list(range(bench.FALLBACK_AFTER, budget, 2))
    assert len(set(handing)) == len(handing) == budget
    assert handing[:bench.FALLBACK_AFTER] == alone[:bench.FALLBACK_AFTER]
    assert handing != alone
