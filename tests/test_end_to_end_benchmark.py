"""Smoke tests of benchmarks/end_to_end.py: its summary logic on hand-made records, the
resume file, and one tiny run of the per-dataset runner (no knowledge base needed)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from automl_meta.data import make_dataset
from automl_meta.estimators import AutoMetaClassifier
from automl_meta.evaluation.metrics import get_metric

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
e2e = importlib.import_module("end_to_end")

TASKS = {"d1": "classification", "d2": "classification", "d3": "classification",
         "r1": "regression"}


def records_from(scores: dict, budget=None, seed: int = 0) -> list[dict]:
    """Records from {method: {dataset: score or None (failed)}}."""
    out = []
    for method, by_dataset in scores.items():
        for dataset, score in by_dataset.items():
            task = TASKS[dataset]
            out.append({
                "dataset": dataset, "task": task, "method": method,
                "budget": budget if method in e2e.BUDGETED else None, "seed": seed,
                "metric": "roc_auc" if task == "classification" else "rmse",
                "score": score, "fit_seconds": 1.0,
                "status": "ok" if score is not None else "failed",
                "error": None if score is not None else "ValueError: boom", "n_train": 75,
                "n_test": 25, "details": {}})
    return out


# Budget 30: FLAML leads; automl_meta fails once, ties twice (one exact, one within 1e-4).
AT_30 = {
    "automl_meta": {"d1": 0.90, "d2": 0.70, "d3": None, "r1": 1.0},
    "optuna_tpe": {"d1": 0.85, "d2": 0.70, "d3": 0.60, "r1": 2.0},
    "flaml": {"d1": 0.88, "d2": 0.75, "d3": 0.65, "r1": 1.5},
}
LIGHTGBM = {"lightgbm_default": {"d1": 0.80, "d2": 0.700000001, "d3": 0.62, "r1": None}}
ZERO_SHOT = {"automl_meta_zero_shot": {"d1": 0.85, "d2": 0.70, "d3": 0.70, "r1": 1.2}}
# Budget 120: automl_meta best everywhere.
AT_120 = {
    "automl_meta": {"d1": 0.95, "d2": 0.80, "d3": 0.70, "r1": 0.5},
    "optuna_tpe": {"d1": 0.85, "d2": 0.70, "d3": 0.60, "r1": 2.0},
    "flaml": {"d1": 0.88, "d2": 0.75, "d3": 0.65, "r1": 1.5},
}


def hand_made() -> list[dict]:
    records = (records_from(AT_30, 30) + records_from(AT_120, 120) + records_from(LIGHTGBM)
               + records_from(ZERO_SHOT))
    # A second seed for TPE on d1: the table averages seeds (0.85, 0.87 -> 0.86).
    records += records_from({"optuna_tpe": {"d1": 0.87}}, 30, seed=1)
    return records


def test_outcome_tolerance_and_failures():
    assert e2e.outcome(-0.9, -0.8) == 1
    assert e2e.outcome(-0.8, -0.9) == -1
    assert e2e.outcome(-0.7, -0.700000001) == 0  # within the relative tolerance
    assert e2e.outcome(-0.7, -0.71) == -1
    assert e2e.outcome(np.inf, 3.0) == -1 and e2e.outcome(3.0, np.inf) == 1
    assert e2e.outcome(np.inf, np.inf) == 0


def test_ranks_and_wins_on_hand_made_records():
    records = hand_made()
    slow = next(r for r in records if (r["dataset"], r["method"], r["budget"]) == (
        "d1", "automl_meta", 30))
    slow["fit_seconds"] = 45.0  # over 1.1 x the 30 s budget
    summary = e2e.summarise(records, list(e2e.METHODS), [30, 120],
                            unavailable={"flaml_zero_shot": "no flaml.default here"})
    at_30 = summary["budgets"]["30"]
    assert at_30["over_budget"] == {"automl_meta": 1, "optuna_tpe": 0, "flaml": 0}
    assert at_30["mean_fit_seconds"]["automl_meta"] == pytest.approx(12.0)
    # d1: am 1, flaml 2, tpe 3, lgb 4; d2: flaml 1, the three ties 3; d3: flaml 1, lgb 2,
    # tpe 3, am (failed) 4; r1 (RMSE): am 1, flaml 2, tpe 3, lgb (failed) 4.
    assert at_30["mean_rank"] == pytest.approx({"automl_meta": 2.25, "optuna_tpe": 3.0,
                                                "flaml": 1.5, "lightgbm_default": 3.25})
    assert at_30["wins_ties_losses"] == {
        "optuna_tpe": {"wins": 2, "ties": 1, "losses": 1},
        "flaml": {"wins": 2, "ties": 0, "losses": 2},
        "lightgbm_default": {"wins": 2, "ties": 1, "losses": 1},
    }
    assert at_30["scores"]["d1"]["optuna_tpe"] == pytest.approx(0.86)
    assert at_30["scores"]["d3"]["automl_meta"] is None
    assert at_30["datasets"] == ["d1", "d2", "d3", "r1"]
    at_120 = summary["budgets"]["120"]
    assert at_120["mean_rank"]["automl_meta"] == 1.0
    assert at_120["wins_ties_losses"]["flaml"] == {"wins": 4, "ties": 0, "losses": 0}

    zero = summary["zero_shot"]
    assert zero["methods"] == ["automl_meta_zero_shot", "lightgbm_default"]
    assert zero["wins_ties_losses"]["lightgbm_default"] == {"wins": 3, "ties": 1, "losses": 0}
    assert e2e.share_better(zero, "lightgbm_default") == pytest.approx(0.75)

    met = {t["target"].split(" on ")[0].split(" at ")[0]: t["met"] for t in summary["targets"]}
    assert met == {"best mean rank": False, "better than FLAML": False,
                   "zero-shot better than LightGBM defaults": True}
    assert summary["unavailable"] == {"flaml_zero_shot": "no flaml.default here"}
    assert [(f["dataset"], f["method"]) for f in summary["failures"]] == [
        ("d3", "automl_meta"), ("r1", "lightgbm_default")]

    text = e2e.markdown(summary, {"command": "python benchmarks/end_to_end.py"})
    assert "best mean rank at every budget: **MISSED**" in text
    assert "zero-shot better than LightGBM defaults on at least 70% of the datasets: **met**" \
        in text
    assert "`flaml_zero_shot`: unavailable: no flaml.default here" in text
    assert "| flaml | 1.50 | 1.0 | 1.0 | 0 |" in text
    assert "| lightgbm_default | 3.25 | 1.0 | 1.0 |  |" in text
    assert "| automl_meta | 2.25 | 12.0 | 45.0 | 1 |" in text
    assert "| flaml | 2 | 0 | 2 | 50% |" in text
    json.dumps(summary)  # the summary goes into the JSON output as is


def test_figures_by_held_out_fold():
    folds = {"d1": 0, "d2": 0, "d3": 3, "r1": 3}
    summary = e2e.summarise(hand_made(), list(e2e.METHODS), [30], folds=folds)
    by_fold = summary["budgets"]["30"]["by_fold"]
    # automl_meta ranks 1 and 3 on d1, d2 (fold 1), 4 and 1 on d3 (failed), r1 (fold 4).
    assert by_fold["1"]["datasets"] == 2 and by_fold["4"]["datasets"] == 2
    assert by_fold["1"]["mean_rank"]["automl_meta"] == pytest.approx(2.0)
    assert by_fold["4"]["mean_rank"]["automl_meta"] == pytest.approx(2.5)
    assert by_fold["1"]["wins_ties_losses"]["optuna_tpe"] == {"wins": 1, "ties": 1,
                                                              "losses": 0}
    assert by_fold["4"]["wins_ties_losses"]["flaml"] == {"wins": 1, "ties": 0, "losses": 1}
    text = e2e.markdown(summary, {"command": "x"})
    assert "| fold | datasets | mean rank | optuna_tpe | flaml | lightgbm_default |" in text
    assert "| 1 | 2 | 2.00 | 1/1/0 | 1/0/1 | 1/1/0 |" in text
    # One fold (or no folds given): no breakdown.
    one = e2e.summarise(hand_made(), list(e2e.METHODS), [30], folds=dict.fromkeys(folds, 2))
    assert one["budgets"]["30"]["by_fold"] == {}
    assert "By held-out fold" not in e2e.markdown(one, {"command": "x"})


def test_a_report_without_automl_meta_has_no_fold_table():
    folds = {"d1": 0, "d2": 0, "d3": 3, "r1": 3}
    others = [r for r in hand_made() if r["method"] != "automl_meta"]
    summary = e2e.summarise(others, ["optuna_tpe", "flaml", "lightgbm_default"], [30],
                            folds=folds)
    assert summary["budgets"]["30"]["wins_ties_losses"] == {}
    text = e2e.markdown(summary, {"command": "x"})
    assert "| flaml | 1.00 |" in text and "By held-out fold" not in text
    assert "best mean rank at every budget: **not evaluated**" in text


def test_targets_met_and_not_evaluated():
    records = records_from(AT_120, 30) + records_from(LIGHTGBM) + records_from(ZERO_SHOT)
    summary = e2e.summarise(records, list(e2e.METHODS), [30])
    assert [t["met"] for t in summary["targets"]] == [True, True, True]
    assert "MISSED" not in e2e.markdown(summary, {"command": "x"})

    without_flaml = [r for r in records if r["method"] != "flaml"]
    summary = e2e.summarise(without_flaml, list(e2e.METHODS), [30],
                            unavailable={"flaml": "flaml.automl cannot be imported"})
    assert [t["met"] for t in summary["targets"]] == [True, None, True]
    assert "flaml" not in summary["budgets"]["30"]["methods"]
    assert "**not evaluated**" in e2e.markdown(summary, {"command": "x"})


def test_a_dataset_missing_a_method_is_left_out_of_the_table():
    records = records_from({"automl_meta": {"d1": 0.9, "d2": 0.8},
                            "optuna_tpe": {"d1": 0.8}}, 30)
    table = e2e.score_table(records, ["automl_meta", "optuna_tpe"], 30)
    assert list(table.index) == ["d1"]


def test_resume_file_skips_finished_runs(tmp_path):
    path = tmp_path / "runs.jsonl"
    ok, failed = records_from({"automl_meta": {"d1": 0.9, "d2": None}}, 30)
    unavailable = {**ok, "method": "flaml", "status": "unavailable", "score": None}
    for record in (ok, failed, unavailable):
        e2e.append_record(path, record)
    with path.open("a") as fh:
        fh.write('{"dataset": "d3", "meth')  # a run killed mid-write
    loaded = e2e.load_records(path)
    assert len(loaded) == 3
    assert e2e.finished_keys(loaded) == {("d1", "automl_meta", 30.0, 0),
                                         ("d2", "automl_meta", 30.0, 0)}
    assert e2e.finished_keys(loaded, retry_failed=True) == {("d1", "automl_meta", 30.0, 0)}
    newer = {**failed, "status": "ok", "score": 0.7}
    assert {r["dataset"]: r["status"] for r in e2e.latest([ok, failed, newer])} == {
        "d1": "ok", "d2": "ok"}


def test_runs_of_learned_methods_made_with_other_code_are_run_again():
    ours, zero_shot, flaml = ({**records_from({m: {"d1": 0.9}}, 30)[0], "data": "d"}
                              for m in ("automl_meta", "automl_meta_zero_shot", "flaml"))
    old = {**ours, "code": "old", "cv": 5, "search": "s"}
    new = {**zero_shot, "code": "new", "search": "s"}
    kept = e2e.current([old, new, ours, flaml], "new", 5, "s", data="d")
    assert [r["method"] for r in kept] == ["automl_meta_zero_shot", "flaml"]
    # Zero-shot runs also go through our estimators: other search code redoes them.
    kept = e2e.current([{**new, "search": "old"}, {**zero_shot, "code": "new"}], "new", 5,
                       "s", data="d")
    assert kept == []


def test_runs_of_searches_validated_otherwise_are_run_again():
    ours, tpe, flaml = ({**records_from({m: {"d1": 0.9}}, 30)[0], "data": "d"}
                        for m in ("automl_meta", "optuna_tpe", "flaml"))
    ours, tpe = {**ours, "code": "v", "search": "s"}, {**tpe, "search": "s"}
    records = [{**ours, "cv": 5}, {**ours, "cv": "auto"}, {**tpe, "cv": 5}, tpe, flaml]
    kept = e2e.current(records, "v", "auto", "s", "d", ensemble_size=1)
    assert [(r["method"], r.get("cv")) for r in kept] == [("automl_meta", "auto"),
                                                          ("flaml", None)]
    # Runs that refit another ensemble size (1 when a record does not say) are redone.
    records = [{**ours, "cv": "auto"}, {**tpe, "cv": "auto", "ensemble_size": 10}, flaml]
    kept = e2e.current(records, "v", "auto", "s", "d", ensemble_size=10)
    assert [r["method"] for r in kept] == ["optuna_tpe", "flaml"]
    # So are runs made by other search code, or before runs recorded it.
    records = [{**ours, "cv": "auto", "search": "old"}, {**tpe, "cv": "auto"},
               {**{k: v for k, v in tpe.items() if k != "search"}, "cv": "auto"}, flaml]
    kept = e2e.current(records, "v", "auto", "s", "d", ensemble_size=1)
    assert [r["method"] for r in kept] == ["optuna_tpe", "flaml"]
    assert e2e.search_version() == e2e.search_version() != "s"
    assert e2e.ENSEMBLE_SIZE == AutoMetaClassifier().ensemble_size


def test_runs_made_with_other_data_or_pipeline_code_are_run_again():
    ours, flaml, lgbm = (records_from({m: {"d1": 0.9}}, 30)[0] for m in (
        "automl_meta", "flaml", "lightgbm_default"))
    ours = {**ours, "code": "v", "search": "s", "cv": 5, "ensemble_size": e2e.ENSEMBLE_SIZE}
    # Every method's data goes through data.py: another version (or none recorded) redoes
    # the run, FLAML's included; LightGBM's defaults are built by our pipelines' code.
    records = [{**ours, "data": "d"}, {**ours, "data": "old"}, {**flaml, "data": "d"}, flaml,
               {**flaml, "data": "old"}, {**lgbm, "data": "d"}, {**lgbm, "data": "d",
                                                                 "search": "s"}]
    kept = e2e.current(records, "v", 5, "s", "d")
    assert kept == [records[0], records[2], records[6]]


def test_each_version_follows_the_code_it_covers(tmp_path, monkeypatch):
    files = ["estimators.py", "spaces.py", "evaluation/__init__.py", "data.py",
             "metafeatures/_extractor.py", "sampler.py"]
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    monkeypatch.setattr(e2e, "_package_root", lambda: tmp_path)
    digests = (e2e.search_version, e2e.evaluation_version, e2e.features_version,
               e2e.data_version)
    # Which of (search, evaluation, features, data) a change of each file moves.
    moves = {"estimators.py": [True, False, False, False],
             "spaces.py": [True, True, False, False],
             "evaluation/__init__.py": [True, True, False, False],
             "data.py": [False, True, False, True],
             "metafeatures/_extractor.py": [False, False, True, False],
             "sampler.py": [False, False, False, False]}
    before = [d() for d in digests]
    for name, expected in moves.items():
        (tmp_path / name).write_text(name + " changed")
        after = [d() for d in digests]
        assert [a != b for a, b in zip(before, after, strict=True)] == expected, name
        before = after


def test_several_folds_are_run_in_turn_and_reported_together(tmp_path, monkeypatch):
    by_fold = {0: ["d1", "d2"], 2: ["d3", "r1"]}
    records = records_from(LIGHTGBM) + records_from(ZERO_SHOT)
    calls = []

    def run_fold(args, kb, fold, *rest):
        calls.append(fold)
        return {"test": by_fold[fold] + [f"x{fold}"], "names": by_fold[fold],
                "skipped": {f"x{fold}": "not in the corpus manifest"},
                "records": [r for r in records if r["dataset"] in by_fold[fold]],
                "settings": {"folds": 5, "fold": fold}}

    monkeypatch.setattr(e2e, "run_fold", run_fold)
    monkeypatch.setattr(e2e, "read_manifest", lambda path: pd.DataFrame())
    argv = ["--fold", "2", "0", "2", "--methods", "automl_meta_zero_shot", "lightgbm_default",
            "--out", str(tmp_path), "--cache", str(tmp_path / "cache"), "--name", "both"]
    assert e2e.main(argv) == 0
    assert calls == [0, 2]
    result = json.loads((tmp_path / "both.json").read_text())
    # --datasets names checked before any fold runs
    monkeypatch.setattr(e2e, "held_out_names", lambda kb, folds, fold: by_fold[fold])
    monkeypatch.setattr(e2e, "read_manifest",
                        lambda path: pd.DataFrame({"name": ["d1", "d2", "d3", "r1"]}))
    with pytest.raises(SystemExit, match="--datasets: not among the datasets picked in the "
                                         "folds run: d9"):
        e2e.main([*argv[:-1], "other", "--datasets", "d1", "d9"])
    assert calls == [0, 2] and not (tmp_path / "other.json").exists()
    assert result["settings"]["fold"] == [0, 2]
    assert sorted(result["run_datasets"]) == ["d1", "d2", "d3", "r1"]
    assert set(result["skipped_datasets"]) == {"x0", "x2"}
    # One comparison over both folds' datasets: 3 wins (d1, d3, r1 whose LightGBM failed),
    # a tie within the tolerance on d2.
    assert result["summary"]["zero_shot"]["wins_ties_losses"]["lightgbm_default"] == {
        "wins": 3, "ties": 1, "losses": 0}
    by_fold = result["summary"]["zero_shot"]["by_fold"]
    assert {f: c["wins_ties_losses"]["lightgbm_default"] for f, c in by_fold.items()} == {
        "1": {"wins": 1, "ties": 1, "losses": 0}, "3": {"wins": 2, "ties": 0, "losses": 0}}
    assert result["settings_text"].startswith("Folds 1, 3 of 5 (grouped so that near-duplicate "
                                              "datasets share a fold), each held out in turn: "
                                              "6 datasets, 4 of them run;")
    with pytest.raises(SystemExit):
        e2e.main(["--fold", "0", "5"])


def test_the_datasets_picked_and_a_share_of_them():
    kb = SimpleNamespace(datasets=pd.DataFrame({"name": ["a", "b", "c", "d"],
                                                "n_rows": [10, 1000, 50, 20],
                                                "n_features": [1, 1, 1, 1]}))
    manifest = pd.DataFrame({"name": ["a", "b", "c"]})
    names, skipped = e2e.select_datasets(kb, ["a", "b", "c", "d"], manifest, 2, "smallest")
    assert names == ["a", "c"] and skipped == {"d": "not in the corpus manifest"}
    # --datasets: a share of the picked ones, e.g. for another process to run the rest
    assert e2e.select_datasets(kb, ["a", "b", "c", "d"], manifest, 2, "smallest",
                               only=["c", "b"])[0] == ["c"]


def test_test_score_aligns_class_columns():
    class Stub:
        classes_ = np.array(["b", "a"])

        def predict_proba(self, X):
            return np.column_stack([X["p_b"], 1 - X["p_b"]])

    X = pd.DataFrame({"p_b": [0.9, 0.8, 0.2, 0.1]})
    y = pd.Series(["b", "b", "a", "a"])
    metric = get_metric("roc_auc", "classification")
    assert e2e.test_score(Stub(), X, y, metric, np.array(["a", "b"])) == 1.0


def test_run_dataset_tiny(tmp_path):
    X, y = make_classification(n_samples=160, n_features=5, n_informative=3, random_state=0)
    dataset = make_dataset(pd.DataFrame(X, columns=[f"x{i}" for i in range(5)]), y,
                           task="classification", name="tiny")
    path = tmp_path / "runs.jsonl"
    methods = ["lightgbm_default", "optuna_tpe", "flaml"]
    records = e2e.run_dataset(dataset, methods, [30], [0], n_trials=2, cv=2,
                              families=["linear"], unavailable={"flaml": "not installed"},
                              on_record=lambda r: e2e.append_record(path, r))
    by_method = {r["method"]: r for r in records}
    assert set(by_method) == set(methods)
    lightgbm, tpe, flaml = (by_method[m] for m in methods)
    assert lightgbm["status"] == "ok", lightgbm["error"]
    assert lightgbm["budget"] is None and lightgbm["n_test"] == 40
    assert 0.8 < lightgbm["score"] <= 1.0 and lightgbm["fit_seconds"] > 0
    assert tpe["status"] == "ok", tpe["error"]
    assert tpe["budget"] == 30 and 0.8 < tpe["score"] <= 1.0
    assert tpe["details"]["trials"] == 2 and tpe["details"]["best_family"] == "linear"
    assert flaml["status"] == "unavailable" and flaml["error"] == "not installed"
    assert e2e.load_records(path) == json.loads(json.dumps(records))

    again = e2e.run_dataset(dataset, methods, [30], [0], done=e2e.finished_keys(records),
                            unavailable={"flaml": "not installed"})
    assert [r["method"] for r in again] == ["flaml"]  # unavailable is never "finished"


def test_a_crashing_method_is_recorded_not_raised():
    dataset = make_dataset(pd.DataFrame({"x": np.arange(40.0)}), np.arange(40) % 2,
                           task="classification", name="crash")
    [record] = e2e.run_dataset(dataset, ["optuna_tpe"], [30], [0], n_trials=1, cv=2,
                               families=["no_such_family"])
    assert record["status"] == "failed" and "no_such_family" in record["error"]
    assert record["score"] is None
