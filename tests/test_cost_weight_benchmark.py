"""benchmarks/cost_weight.py on a small synthetic knowledge base where k-NN fits 100 times
faster than LightGBM."""

from __future__ import annotations

import dataclasses
import importlib
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthetic import synthetic_kb

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
bench = importlib.import_module("cost_weight")
WEIGHTS = (0.0, 2.0)
BUDGETS = (10.0, 40.0)
OVERHEAD = 0.01


def fast_knn_kb():
    """12 tasks with distinct stems (``task000``... would be one dataset group), k-NN
    fitting in 0.001 s and LightGBM in 0.1 s."""
    kb = synthetic_kb(n_tasks=12)
    rename = {n: f"set{chr(97 + i)}" for i, n in enumerate(kb.datasets["name"])}
    evaluations = kb.evaluations.replace({"dataset": rename})
    evaluations.loc[evaluations["family"] == "knn", "fit_seconds"] = 0.001
    return dataclasses.replace(kb, datasets=kb.datasets.replace({"name": rename}),
                               metafeatures=kb.metafeatures.replace({"dataset": rename}),
                               evaluations=evaluations)


def briefly(function, *args, **kwargs):
    """``function`` with a short meta-training: the tests are about the protocol."""
    real = bench.trained
    try:
        bench.trained = lambda kb, method, steps, names, cache, seed: real(
            kb, method, 100, names, cache, seed)
        return function(*args, **kwargs)
    finally:
        bench.trained = real


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    kb = fast_knn_kb()
    cache = tmp_path_factory.mktemp("learners")
    records = briefly(bench.run, kb, folds=2, cache=cache, weights=WEIGHTS, budgets=BUDGETS,
                      overhead=OVERHEAD, log=lambda *_: None)
    return kb, cache, records


def test_every_held_out_dataset_is_searched_at_every_budget_and_weight(result):
    kb, _, records = result
    frame = pd.DataFrame(records)
    assert len(frame) == len(kb.datasets) * len(WEIGHTS) * len(BUDGETS)
    assert not frame.duplicated(["dataset", "budget", "weight"]).any()
    assert set(frame["dataset"]) == set(kb.datasets["name"])
    assert frame["regret"].between(0, 1).all() and (frame["trials"] >= 1).all()
    # A larger budget never runs fewer trials at the same weight.
    trials = frame.pivot_table(index=["dataset", "weight"], columns="budget", values="trials")
    assert (trials[40.0] >= trials[10.0]).all()


#: The start of the searches on ``seta`` below, unless a test says otherwise.
PORTFOLIO = [("lightgbm", 0), ("knn", 0), ("lightgbm", 1)]


def held_out(result):
    """The pool of ``seta`` (held out), a learner trained on other pools, the seconds of
    its picks (k-NN 0.011 s, LightGBM 0.11 s) and its meta-features."""
    kb, cache, _ = result
    pools = bench.pools_of(kb.scores(), bench.MIN_POOL)
    pool = pools["seta"]
    learner = briefly(bench.trained, kb, bench.DEFAULT, None, sorted(pools)[6:], cache, 0)
    seconds = np.where(np.array(pool.families) == "knn", 0.001, 0.1) + OVERHEAD
    return pool, learner, seconds, kb.metafeatures.set_index("dataset").loc["seta"]


def searches(result, budgets, weights):
    """``timed_search`` on one held-out pool, where k-NN trials take 0.011 s and LightGBM
    ones 0.11 s, for each budget (seconds) and weight."""
    pool, learner, seconds, features = held_out(result)
    return pool, seconds, {(budget, weight): bench.timed_search(
        learner, features, pool, seconds, np.log(seconds), budget, weight, PORTFOLIO)
        for budget in budgets for weight in weights}


def test_a_search_stays_within_its_budget_and_starts_with_the_cheapest(result):
    pool, seconds, runs = searches(result, (0.5, 2.0), (0.0, 2.0))
    for (budget, _), picks in runs.items():
        assert len(set(picks)) == len(picks)
        assert seconds[picks].sum() <= budget
        # The budget, not the pool, ends the search.
        assert len(picks) < len(pool.losses)
        assert pool.families[picks[0]] == "knn"


def test_a_cost_weight_moves_trials_to_the_cheaper_family(result):
    pool, _, runs = searches(result, (1.2,), (0.0, 2.0))
    first = {weight: [pool.families[i] for i in picks[:20]]
             for (_, weight), picks in runs.items()}
    assert first[2.0][:5] == first[0.0][:5]  # the start does not weigh cost
    assert first[2.0].count("knn") > first[0.0].count("knn")


def test_summary_pairs_each_weight_with_weight_zero_and_reports(result):
    kb, _, records = result
    summary = bench.summarise(records)
    assert len(summary) == len(WEIGHTS) * len(BUDGETS)
    assert (summary["datasets"] == len(kb.datasets)).all()
    zero = summary[summary["weight"] == 0]
    assert (zero["better"] == 0).all() and (zero["worse"] == 0).all()
    frame = pd.DataFrame(records)
    for budget in BUDGETS:
        at = frame[frame["budget"] == budget].pivot(index="dataset", columns="weight",
                                                    values="regret")
        row = summary[(summary["budget"] == budget) & (summary["weight"] == 2.0)].iloc[0]
        assert row["better"] == (at[2.0] < at[0.0]).sum()
        assert row["worse"] == (at[2.0] > at[0.0]).sum()
        assert row["regret"] == pytest.approx(at[2.0].mean())
    text = bench.markdown(summary, {"command": "python x", "seconds": 1.0, "folds": 2,
                                    "overhead": OVERHEAD})
    assert text.count("\n| 40 | ") == len(WEIGHTS)


def test_a_probe_takes_a_cheap_family_s_defaults_once_a_pick_has_finished(result,
                                                                          monkeypatch):
    from automl_meta.spaces import default_params

    pool, learner, seconds, features = held_out(result)
    knn = pool.families.index("knn")
    params = list(pool.params)
    params[knn] = default_params("knn", pool.task)  # the pool holds k-NN's defaults
    pool = dataclasses.replace(pool, params=params)
    # A start of two LightGBM configurations, the portfolio's alone: no k-NN in it.
    monkeypatch.setattr(bench, "N_STARTUP", 2)
    monkeypatch.setattr(bench, "diverse_top", lambda *args: [])
    lightgbm = [key for key in pool.keys if key[0] == "lightgbm"][:2]
    start = [pool.keys.index(key) for key in lightgbm]
    runs = {share: bench.timed_search(learner, features, pool, seconds, np.log(seconds),
                                      1.0, 0.0, lightgbm, share) for share in (0.0, 0.2)}
    assert runs[0.0][:2] == start
    # Once the first LightGBM trial has shown what a trial costs, k-NN's defaults, 10
    # times cheaper, come next; the start resumes after them.
    assert runs[0.2][:3] == [start[0], knn, start[1]]
    # Not with a budget of about 90 LightGBM picks (PROBE_HORIZON).
    long = bench.timed_search(learner, features, pool, seconds, np.log(seconds), 10.0, 0.0,
                              lightgbm, 0.2)
    assert long[:2] == start
    summary = bench.summarise([
        {"dataset": d, "budget": 1.0, "weight": 0.0, "probe_share": share, "regret": r,
         "trials": 3} for d, share, r in [("a", 0.0, 0.5), ("a", 0.2, 0.1),
                                          ("b", 0.0, 0.2), ("b", 0.2, 0.3),
                                          ("c", 0.0, 0.4), ("c", 0.2, 0.4)]])
    probed = summary[summary["probe_share"] == 0.2].iloc[0]
    assert (probed["better_than_none"], probed["worse_than_none"]) == (1, 1)
    text = bench.markdown(summary, {"command": "python x", "seconds": 1.0, "folds": 2,
                                    "overhead": OVERHEAD})
    assert "| 1 | 0 | 0.2 | 3 | 0.2667 |" in text and "better than no probes" in text


def test_a_stopped_pick_is_neither_scored_nor_adapted_to(result, monkeypatch):
    pool, learner, seconds, features = held_out(result)
    adapted: dict[float, set] = {}
    real_adapt = type(learner).adapt

    def search(share: float) -> list[int]:
        def adapt(self, features, trials, **kwargs):
            adapted.setdefault(share, set()).update(family for family, _, _ in trials)
            return real_adapt(self, features, trials, **kwargs)

        monkeypatch.setattr(type(learner), "adapt", adapt)
        return bench.timed_search(learner, features, pool, seconds, np.log(seconds), 1.0,
                                  0.0, PORTFOLIO, stop_share=share)

    assert "lightgbm" in {pool.families[i] for i in search(0.0)}
    assert "lightgbm" in adapted[0.0]
    # A LightGBM pick (0.11 s) takes more than 5% of the time left from the start: after
    # the first pick (k-NN, the cheapest) every one stops, gives no score and is not
    # adapted to.
    assert {pool.families[i] for i in search(0.05)} == {"knn"}
    assert adapted[0.05] == {"knn"}


def test_compare_pairs_datasets_with_a_reference_run(result):
    _, _, records = result
    worse = [{**r, "regret": r["regret"] + 0.1} if r["dataset"] == "seta" else r
             for r in records]
    comparison = bench.compare(worse, records)
    assert len(comparison) == len(WEIGHTS) * len(BUDGETS)
    assert (comparison["worse"] == 1).all() and (comparison["better"] == 0).all()
    assert np.allclose(comparison["regret"] - comparison["reference"], 0.1 / 12)
    text = bench.markdown(bench.summarise(worse),
                          {"command": "python x", "seconds": 1.0, "folds": 2,
                           "overhead": OVERHEAD, "reference": "ref.json"}, comparison)
    assert "Against `ref.json`" in text and text.count("| 1 |\n") >= len(comparison)
