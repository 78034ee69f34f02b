"""recommend(), Recommendation and the ``recommend`` command, on a synthetic knowledge base."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import mixed_frame, mixed_target
from optuna.distributions import CategoricalDistribution
from synthetic import (
    FAMILIES,
    TASK,
    auc,
    auc_at,
    metafeatures_of,
    objective_for,
    two_sample_sizes_kb,
)
from synthetic import configs as designs

from automl_meta.cli import EXIT_OK, EXIT_USAGE, main
from automl_meta.exceptions import DataValidationError, KnowledgeBaseError, UnknownFamilyError
from automl_meta.recommendation import (
    FIRST_PICK_MARGIN,
    MIN_DISTANCE,
    population_portfolio,
    recommend,
)
from automl_meta.spaces import encode, get_family, to_unit, validate_params

LATENT = np.array([1.0, 1.2])  # lightgbm is the better family, a high first coordinate


@pytest.fixture(scope="module")
def kb(meta_trained):
    return meta_trained[0]


@pytest.fixture(scope="module")
def learner(meta_trained):
    return meta_trained[1]


@pytest.fixture(scope="module")
def data():
    X = mixed_frame(60)
    return X, mixed_target(X, TASK)


@pytest.fixture(scope="module")
def rec(kb, learner, data):
    X, y = data
    return recommend(X, y, k=6, metafeatures=pd.Series(metafeatures_of(LATENT)),
                     learner=learner, knowledge_base=kb)


def test_families_ranked_by_what_the_task_favours(rec):
    assert list(rec.families["family"]) == ["lightgbm", "knn"]
    assert rec.families["predicted_score"].is_monotonic_decreasing
    assert (rec.families["uncertainty"] > 0).all()


def test_top_configurations_alternate_the_learners_top_with_the_portfolio(rec, kb):
    configs = rec.configurations
    assert len(configs) == 6 and not configs["params"].map(json.dumps).duplicated().any()
    portfolio = population_portfolio(kb.scores(), TASK, 6, rows=60)
    design = kb.configurations.set_index(["family", "config_id"])["params"].map(json.loads)
    anchored = configs[configs["source"] != "meta-learner"]
    assert len(anchored) >= 2 and all(
        any(f == pf and p == design[(pf, pid)] for pf, pid in portfolio)
        for f, p in zip(anchored["family"], anchored["params"], strict=True))
    # The first place: the portfolio's best unless the learner is sure of its own top.
    learned = configs[configs["source"] != "portfolio"]
    assert learned["predicted_score"].is_monotonic_decreasing
    first = configs.iloc[0]
    if first["source"] == "meta-learner":
        best = configs[[p == design[portfolio[0]] for p in configs["params"]]].iloc[0]
        assert first["predicted_score"] - best["predicted_score"] > FIRST_PICK_MARGIN * np.hypot(
            first["uncertainty"], best["uncertainty"])
    else:
        assert first["family"] == portfolio[0][0] and first["params"] == design[portfolio[0]]


def test_the_learners_configurations_are_good_valid_and_diverse(rec):
    configs = rec.configurations[rec.configurations["source"] != "portfolio"]
    true = [auc(LATENT, f, to_unit(f, TASK, p)) for f, p in zip(configs["family"],
                                                               configs["params"], strict=True)]
    best = configs["family"] == "lightgbm"
    design = [auc(LATENT, "lightgbm", u) for _, u in designs()["lightgbm"]]
    assert np.mean(np.asarray(true)[best]) > np.quantile(design, 0.75)  # random picks: 0.74
    for family, params in zip(configs["family"], configs["params"], strict=True):
        validate_params(family, TASK, params)
    for family in FAMILIES:
        vectors = [encode(family, TASK, p) for f, p in zip(configs["family"],
                                                           configs["params"], strict=True)
                   if f == family]
        for i in range(len(vectors)):
            for j in range(i):
                assert np.sqrt(np.mean((vectors[i] - vectors[j]) ** 2)) >= MIN_DISTANCE
    assert set(rec.configurations["family"]) == set(FAMILIES)


def test_priors_narrow_within_the_full_space(rec):
    for family in FAMILIES:
        names = {p.name for p in get_family(family).params(TASK)}
        assert set(rec.priors[family]) <= names
        for prior in rec.priors[family].values():
            if isinstance(prior.full, CategoricalDistribution):
                assert set(prior.distribution.choices) <= set(prior.full.choices)
            else:
                assert prior.full.low <= prior.distribution.low <= prior.distribution.high
                assert prior.distribution.high <= prior.full.high
            assert prior.distribution._contains(prior.distribution.to_internal_repr(prior.best))
    narrowed = [p for f in FAMILIES for p in rec.priors[f].values()
                if not isinstance(p.full, CategoricalDistribution)
                and (p.distribution.low, p.distribution.high) != (p.full.low, p.full.high)]
    assert narrowed, "no prior is narrower than its space"


def test_explanation_names_neighbours_of_the_same_task(rec, kb):
    assert len(rec.neighbours) == 5
    assert set(rec.neighbours["dataset"]) <= set(kb.datasets["name"])
    assert rec.neighbours["distance"].is_monotonic_increasing
    assert "lightgbm ranks first" in rec.explanation
    for name in rec.neighbours["dataset"]:
        assert name in rec.explanation


def test_to_dict_is_json_and_trial_params_use_the_study_names(rec):
    payload = json.loads(json.dumps(rec.to_dict()))
    assert payload["task"] == TASK and len(payload["configurations"]) == 6
    first = rec.trial_params()[0]
    family = first["family"]
    assert all(k == "family" or k.startswith(f"{family}__") for k in first)
    assert str(rec).startswith("Recommendation for a classification dataset")
    families = list(rec.families["family"])
    assert repr(rec) == (f"Recommendation(task='{TASK}', families={families}, 6 "
                         f"configurations, 5 neighbours)")


def test_bad_arguments_are_named(kb, learner, data):
    X, y = data
    features = pd.Series(metafeatures_of(LATENT))
    with pytest.raises(DataValidationError, match="k must be a positive integer"):
        recommend(X, y, k=0, metafeatures=features, learner=learner, knowledge_base=kb)
    with pytest.raises(UnknownFamilyError, match="known families"):
        recommend(X, y, families=["xgboost"], metafeatures=features, learner=learner,
                  knowledge_base=kb)
    with pytest.raises(KnowledgeBaseError, match="not trained on"):
        recommend(X, y, families=["svm"], metafeatures=features, learner=learner,
                  knowledge_base=kb)
    with pytest.raises(DataValidationError, match="metafeatures must be a pandas Series"):
        recommend(X, y, metafeatures=[1.0], learner=learner, knowledge_base=kb)
    with pytest.raises(DataValidationError):
        recommend(X, y[:10], metafeatures=features, learner=learner, knowledge_base=kb)


def test_recommendations_and_sampler_follow_the_rows_asked_for(data):
    import optuna

    from automl_meta.metalearner import MetaLearner
    from automl_meta.sampler import MetaLearnedSampler

    X, y = data
    kb = two_sample_sizes_kb()
    learner = MetaLearner("joint", steps=1000, n_members=2, hidden_size=32, seed=0,
                          device="cpu").fit(kb)
    latent = np.array([0.3, 0.9])  # lightgbm: its first coordinate best high, then low
    features = pd.Series({**metafeatures_of(latent), "n_instances": 20000.0})
    top = {}
    for rows in (1000, 8000):
        rec = recommend(X, y, k=3, metafeatures=features, learner=learner, knowledge_base=kb,
                        rows=rows)
        family, params = rec.configurations.iloc[0][["family", "params"]]
        top[rows] = (family, to_unit(family, TASK, params))
    for rows, other in ((1000, 8000), (8000, 1000)):
        assert auc_at(latent, *top[rows], rows) > auc_at(latent, *top[other], rows) + 0.01
    sampler = MetaLearnedSampler(metafeatures=features, task=TASK, learner=learner,
                                 knowledge_base=kb, n_startup=1, rows=1000, seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective_for(latent, rows=1000), n_trials=1)
    assert config_of(study.trials[0])[0] == top[1000][0]
    np.testing.assert_allclose(config_of(study.trials[0])[1], top[1000][1])
    with pytest.raises(DataValidationError, match="rows must be a number"):
        recommend(X, y, metafeatures=features, learner=learner, knowledge_base=kb, rows=0.5)
    with pytest.raises(DataValidationError, match="rows must be a number"):
        MetaLearnedSampler(metafeatures=features, task=TASK, learner=learner,
                           knowledge_base=kb, rows="all")


def config_of(trial) -> tuple[str, np.ndarray]:
    """(family, unit coordinates) of a trial of the built-in families."""
    from automl_meta.sampler import config_from_params

    family, params = config_from_params(trial.params)
    return family, to_unit(family, TASK, params)


def test_recommend_command(kb, learner, data, tmp_path, capsys):
    folder = kb.save(tmp_path / "kb")
    learner.save(folder / "metalearner")
    X, y = data
    X.assign(target=y).to_csv(tmp_path / "data.csv", index=False)
    code = main(["recommend", str(tmp_path / "data.csv"), "--target", "target",
                 "--knowledge-base", str(folder), "-k", "3", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK and len(out["configurations"]) == 3
    assert {f["family"] for f in out["families"]} == set(FAMILIES)
    assert main(["recommend", str(tmp_path / "data.csv"), "--target", "nope",
                 "--knowledge-base", str(folder)]) == EXIT_USAGE
    assert "nope" in capsys.readouterr().err
    assert main(["recommend", str(tmp_path / "data.csv"), "--target", "target",
                 "--knowledge-base", str(tmp_path / "missing")]) == EXIT_USAGE
    assert "no knowledge base" in capsys.readouterr().err


def _scores(losses: dict[tuple[str, int], list[float]], max_rows: int) -> pd.DataFrame:
    """KnowledgeBase.scores()-like rows: losses[config][i] on dataset d<i> (NaN: not run)."""
    rows = [{"dataset": f"d{i}", "max_rows": max_rows, "family": family, "config_id": cid,
             "task": TASK, "status": "ok", "loss": loss}
            for (family, cid), values in losses.items() for i, loss in enumerate(values)
            if not np.isnan(loss)]
    return pd.DataFrame(rows)


def test_population_portfolio_is_greedy_at_the_nearest_sample_size():
    half = [0.0] * 6 + [1.0] * 6
    small = _scores({("lightgbm", 0): [0.2] * 12, ("knn", 1): half, ("lightgbm", 2): half[::-1],
                     ("knn", 3): [0.0] * 3 + [np.nan] * 9,  # best, but on 3 datasets only
                     ("knn", 4): [1.0] * 12}, 1000)
    large = _scores({("lightgbm", 0): [1.0] * 11, ("knn", 1): [0.5] * 11,
                     ("knn", 4): [0.0] * 11}, 8000)
    scores = pd.concat([small, large], ignore_index=True)
    portfolio = population_portfolio(scores, TASK, 3, rows=500)
    assert portfolio[0] == ("lightgbm", 0)  # the lowest mean regret
    assert set(portfolio[1:]) == {("knn", 1), ("lightgbm", 2)}  # together they cover all
    assert population_portfolio(scores, TASK, 1, rows=20000) == [("knn", 4)]
    assert population_portfolio(scores, TASK, 1) == [("lightgbm", 0)]  # most datasets
    assert population_portfolio(scores, TASK, 1, families=["knn"], rows=500) == [("knn", 1)]
    too_few = scores[~scores["dataset"].isin(["d0", "d1"]) | (scores["max_rows"] == 1000)]
    assert population_portfolio(too_few, TASK, 1, rows=20000) == [("lightgbm", 0)]
    assert population_portfolio(scores, "regression", 3) == []
    # A configuration is judged on the datasets it was run on; a failure is the worst.
    partial = _scores({("lightgbm", 0): [0.1] * 12, ("knn", 1): [0.6] * 12,
                       ("knn", 4): [0.0] * 8 + [np.nan] * 4}, 1000)
    assert population_portfolio(partial, TASK, 1) == [("knn", 4)]
    failed = pd.concat([partial, _scores({("knn", 4): [np.nan] * 8 + [0.0] * 4}, 1000).assign(
        status="failed", loss=np.nan)], ignore_index=True)
    assert population_portfolio(failed, TASK, 1) == [("lightgbm", 0)]


def test_startup_order_hedges_the_learners_top_with_the_portfolio():
    from automl_meta.recommendation import startup_order

    learned = [0, 1, 2, 3, 4, 5]  # the learner's diverse top, best first
    mean = np.array([3.0, 2.0, 1.0, 0.0, -1.0, -2.0])
    unsure, sure = np.full(6, 2.0), np.full(6, 0.1)
    # The learner's top is 5 points above the portfolio's first: only sure beats 2 sd.
    assert startup_order(learned, [5, 4], mean, unsure, 4) == [5, 0, 1, 4]
    assert startup_order(learned, [5, 4], mean, sure, 4) == [0, 5, 1, 4]
    assert startup_order(learned, [1, 0], mean, sure, 6) == [0, 1, 2, 3, 4, 5]
    assert startup_order(learned, [], mean, sure, 3) == [0, 1, 2]
