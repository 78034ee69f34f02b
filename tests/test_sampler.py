"""MetaLearnedSampler, warm_start_study, from_studies and KnowledgeBase.from_frame."""

from __future__ import annotations

import math
import pickle
import threading
import warnings
from datetime import datetime
from types import SimpleNamespace

import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import mixed_frame, mixed_target
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState
from synthetic import FAMILIES, TASK, metafeatures_of, objective_for

from automl_meta.cli import EXIT_OK, main
from automl_meta.estimators import AutoMetaClassifier
from automl_meta.exceptions import DataValidationError, InvalidParamsError
from automl_meta.metadataset.knowledge_base import CUSTOM_FAMILY, KnowledgeBase, custom_spaces
from automl_meta.metalearner import MetaLearner
from automl_meta.sampler import (
    MetaLearnedSampler,
    config_from_params,
    is_coverage_trial,
    is_fallback_trial,
    trial_params,
    trial_seconds,
    warm_start_study,
)
from automl_meta.spaces import FAMILIES as ALL_FAMILIES
from automl_meta.spaces import default_params, validate_params

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: Tasks the synthetic meta-learner did not train on (its tasks' latents are N(0, 1)).
HELD_OUT = [(1.2, -0.8), (-1.0, 1.1), (0.3, 0.9), (-0.5, -1.3), (0.8, 0.4), (-1.5, -0.2)]
CONFIG = "automl_meta:config"


def best_possible(latent) -> float:
    return 0.75 + 0.05 * abs(latent[1])


def sampler_for(meta_trained, latent, **kwargs) -> MetaLearnedSampler:
    kb, learner = meta_trained
    return MetaLearnedSampler(metafeatures=pd.Series(metafeatures_of(np.asarray(latent))),
                              task=TASK, learner=learner, knowledge_base=kb, **kwargs)


def sources(study: optuna.Study) -> list[str]:
    return sources_of(study.trials)


def sources_of(trials) -> list[str]:
    return [t.system_attrs[CONFIG]["source"] for t in trials]


def test_trial_params_round_trip():
    for family in ALL_FAMILIES:
        params = default_params(family, "classification")
        assert config_from_params(trial_params(family, params)) == (family, params)
    assert config_from_params({"x": 1.0}) is None
    assert config_from_params({"family": "xgboost", "xgboost__depth": 3}) is None


def test_configuration_keys_tell_types_apart_and_ignore_order():
    from automl_meta.sampler import _key

    # The sampler dedups configurations by these keys, as JSON did: numpy scalars are
    # their Python values, and 1, 1.0, True and "1" are four configurations.
    assert _key({"a": 1, "b": "x"}) == _key({"b": "x", "a": np.int64(1)})
    assert len({_key({"a": v}) for v in (1, 1.0, True, "1", None)}) == 5
    assert _key({"a": float("nan")}) == _key({"a": np.float64("nan")})
    # Anything else is keyed as JSON (a list in an enqueued trial, say).
    assert _key({"a": [1, 2]}) == _key({"a": [1, 2]}) != _key({"a": [2, 1]})


def test_portfolio_first_then_the_adapted_surrogate(meta_trained):
    study = optuna.create_study(direction="maximize",
                                sampler=sampler_for(meta_trained, HELD_OUT[0], seed=0))
    study.optimize(objective_for(HELD_OUT[0]), n_trials=12)
    got = sources(study)
    assert got[:5] == ["portfolio"] * 5
    assert set(got[5:]) <= {"surrogate", "exploration"} and got[5:].count("surrogate") >= 5
    for t in study.trials:
        family, params = config_from_params(t.params)
        validate_params(family, TASK, params)
        if t.system_attrs[CONFIG]["source"] == "surrogate":
            assert np.isfinite(t.system_attrs[CONFIG]["predicted_score"])
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 12


def test_beats_random_search_on_held_out_tasks(meta_trained):
    regret = {"meta": [], "random": []}
    for latent in HELD_OUT:
        for seed in (0, 1):
            for name in regret:
                sampler = (sampler_for(meta_trained, latent, seed=seed) if name == "meta"
                           else optuna.samplers.RandomSampler(seed=seed))
                study = optuna.create_study(direction="maximize", sampler=sampler)
                study.optimize(objective_for(latent), n_trials=10)
                regret[name].append(best_possible(latent) - study.best_value)
    meta, random = np.asarray(regret["meta"]), np.asarray(regret["random"])
    assert meta.mean() < 0.5 * random.mean()
    assert np.mean(meta < random) > 0.5


def test_unknown_parameters_go_to_the_fallback(meta_trained):
    fallback = optuna.samplers.RandomSampler(seed=3)
    study = optuna.create_study(direction="maximize", sampler=sampler_for(
        meta_trained, HELD_OUT[1], fallback=fallback, seed=0))
    study.optimize(objective_for(HELD_OUT[1], extra=True), n_trials=8)
    extras = [t.params["extra"] for t in study.trials]
    assert all(0.0 <= e <= 1.0 for e in extras) and len(set(extras)) == 8
    assert "extra" not in study.trials[0].system_attrs[CONFIG]["params"]


def test_exploration_and_no_portfolio(meta_trained):
    study = optuna.create_study(direction="maximize", sampler=sampler_for(
        meta_trained, HELD_OUT[2], n_startup=0, exploration=1.0, seed=0))
    study.optimize(objective_for(HELD_OUT[2]), n_trials=6)
    assert sources(study) == ["exploration"] * 6


def test_coverage_trials_take_a_family_not_tried_yet(meta_trained):
    covered = 0
    for latent in HELD_OUT[:3]:
        study = optuna.create_study(direction="maximize", sampler=sampler_for(
            meta_trained, latent, n_startup=1, exploration=0.0, seed=0))
        study.optimize(objective_for(latent), n_trials=9)
        families = [t.params["family"] for t in study.trials]
        for t in study.trials:
            if is_coverage_trial(t.number, 1) and set(families[:t.number]) != set(FAMILIES):
                assert sources(study)[t.number] == "coverage"
                assert families[t.number] not in families[:t.number]
                covered += 1
            else:
                assert sources(study)[t.number] != "coverage"
    assert covered  # the learner keeps to one family at first on at least one task
    study = optuna.create_study(direction="maximize", sampler=sampler_for(
        meta_trained, HELD_OUT[0], n_startup=1, exploration=0.0, coverage=False, seed=0))
    study.optimize(objective_for(HELD_OUT[0]), n_trials=9)
    assert "coverage" not in sources(study)


def test_hand_over_trials_leave_every_parameter_to_the_fallback(meta_trained):
    asked: list[tuple[int, str]] = []

    class Spy(optuna.samplers.RandomSampler):
        def sample_independent(self, study, trial, name, distribution):
            asked.append((trial.number, name))
            return super().sample_independent(study, trial, name, distribution)

    spy = Spy(seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler_for(
        meta_trained, HELD_OUT[0], n_startup=2, exploration=0.0, fallback=spy,
        fallback_after=4, fallback_share=0.5, seed=0))
    study.optimize(objective_for(HELD_OUT[0]), n_trials=10)
    handed = [t.number for t in study.trials if sources(study)[t.number] == "fallback"]
    assert handed == [4, 6, 8]
    for t in study.trials:
        names = {name for number, name in asked if number == t.number}
        if t.number in handed:
            assert names == set(t.params) and "family" in names
            assert t.system_attrs[CONFIG]["params"] == t.params
        else:
            assert not names

    study = optuna.create_study(direction="maximize", sampler=sampler_for(
        meta_trained, HELD_OUT[0], n_startup=2, fallback_after=0, fallback_share=0.0, seed=0))
    study.optimize(objective_for(HELD_OUT[0]), n_trials=6)
    assert "fallback" not in sources(study)


@pytest.mark.parametrize("share", [0.1, 0.25, 1 / 3, 0.5, 0.7, 1.0])
def test_the_hand_over_schedule_spreads_its_share(share):
    numbers = [n for n in range(130) if is_fallback_trial(n, 30, share)]
    assert numbers[0] == 30 and len(numbers) == math.ceil(round(100 * share, 9))
    gaps = np.diff(numbers)
    assert gaps.max() - gaps.min() <= 1


def test_a_zero_share_hands_nothing_over():
    assert not any(is_fallback_trial(n, 0, 0.0) for n in range(50))


def test_families_restrict_the_choices(meta_trained):
    study = optuna.create_study(direction="maximize", sampler=sampler_for(
        meta_trained, HELD_OUT[3], families=["knn"], seed=0))
    study.optimize(objective_for(HELD_OUT[3], families=["knn"]), n_trials=7)
    assert {t.params["family"] for t in study.trials} == {"knn"}


def test_bad_sampler_arguments_are_named(meta_trained):
    kb, learner = meta_trained
    features = pd.Series(metafeatures_of(np.zeros(2)))
    for kwargs, match in [({"n_startup": -1}, "n_startup"), ({"beta": float("nan")}, "beta"),
                          ({"exploration": 2.0}, "exploration"),
                          ({"n_candidates": 0}, "n_candidates"),
                          ({"fallback": "tpe"}, "fallback"),
                          ({"fallback_share": 1.5}, "fallback_share must be within"),
                          ({"fallback_share": True}, "fallback_share must be within"),
                          ({"fallback_after": -1}, "fallback_after must be an integer"),
                          ({"coverage": "yes"}, "coverage must be True or False"),
                          ({"cost_weight": -0.1}, "cost_weight must be a finite number"),
                          ({"cost_weight": True}, "cost_weight must be a finite number"),
                          ({"time_left": 30}, "time_left must be a function")]:
        with pytest.raises(DataValidationError, match=match):
            MetaLearnedSampler(metafeatures=features, task=TASK, learner=learner,
                               knowledge_base=kb, **kwargs)
    with pytest.raises(DataValidationError, match="needs the dataset"):
        MetaLearnedSampler(task=TASK, learner=learner, knowledge_base=kb)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler_for(
        meta_trained, HELD_OUT[0]))
    with pytest.raises(DataValidationError, match="single-objective"):
        study.optimize(lambda t: (t.suggest_categorical("family", FAMILIES) and 0.0, 0.0),
                       n_trials=1, catch=())


# ---------------------------------------------------------------------------------------
# Under a time budget


@pytest.fixture
def lightgbm_takes(monkeypatch):
    """Simulated trial durations: ``lightgbm_takes(seconds)`` makes the sampler read a
    LightGBM trial as taking ``seconds`` and any other trial 0.002 s, and its clock
    stand still, so that its decisions under a time budget do not depend on how fast
    or how loaded the machine running the tests is."""
    import automl_meta.sampler as module

    now = datetime.now()
    monkeypatch.setattr(module, "datetime", SimpleNamespace(now=lambda: now))
    lightgbm = []

    def seconds(trial) -> float | None:
        if trial.state not in (TrialState.COMPLETE, TrialState.FAIL):
            return None
        return lightgbm[-1] if trial.params.get("family") == "lightgbm" else 0.002

    monkeypatch.setattr(module, "trial_seconds", seconds)
    return lightgbm.append


def test_time_left_keeps_configurations_that_cannot_fit_out(meta_trained, lightgbm_takes):
    from synthetic import synthetic_kb

    lightgbm_takes(0.25)
    latent = HELD_OUT[1]  # LightGBM is the better family here
    kb = synthetic_kb()  # where k-NN fits 100 times faster than LightGBM
    kb.evaluations.loc[kb.evaluations["family"] == "knn", "fit_seconds"] = 0.001
    trained = (kb, meta_trained[1])
    families = {}
    for name, kwargs in [("free", {}),
                         ("ample", {"time_left": lambda: 1000.0, "cost_weight": 0.0}),
                         ("frugal", {"time_left": lambda: 1000.0, "cost_weight": 2.0}),
                         ("short", {"time_left": lambda: 0.4})]:  # 0.1 s affordable
        study = optuna.create_study(direction="maximize", sampler=sampler_for(
            trained, latent, seed=0, **kwargs))
        study.optimize(objective_for(latent), n_trials=12)
        families[name] = [t.params["family"] for t in study.trials]
        if name == "short":
            # k-NN starts (the cheapest start) and calibrates the costs: LightGBM, at
            # 0.25 s, is proposed once at most (the knowledge base says 100 times k-NN).
            assert families[name][0] == "knn" and families[name].count("lightgbm") <= 1
            assert all(np.isfinite(t.value) for t in study.trials)
            # Each decision records the duration predicted for it, once a trial has
            # finished to calibrate the costs.
            predicted = [t.system_attrs[CONFIG].get("predicted_seconds")
                         for t in study.trials]
            assert predicted[0] is None and all(x > 0 for x in predicted[1:])
        if name == "free":
            assert not any("predicted_seconds" in t.system_attrs[CONFIG]
                           for t in study.trials)
    assert families["free"].count("lightgbm") >= 6
    # Time to spare and no cost weight: the same trials, but the cheapest start first
    # (nothing screens it).
    assert families["ample"][0] == "knn" != families["free"][0]
    assert sorted(families["ample"][:5]) == sorted(families["free"][:5])
    assert families["ample"][5:] == families["free"][5:]
    # Weighing cost, the surrogate's trials go to the family 100 times cheaper.
    assert families["frugal"][:5] == families["ample"][:5]
    assert families["frugal"][5:].count("lightgbm") < families["ample"][5:].count("lightgbm")

    # Hand-over trials: the fallback's proposals are screened as the surrogate's are.
    handed = {}
    for name, left in [("ample", 1000.0), ("short", 0.4)]:
        study = optuna.create_study(direction="maximize", sampler=sampler_for(
            trained, latent, seed=0, time_left=lambda left=left: left,
            fallback=optuna.samplers.RandomSampler(seed=0), fallback_after=5,
            fallback_share=1.0))
        study.optimize(objective_for(latent), n_trials=12)
        assert sources(study)[5:] == ["fallback"] * 7
        handed[name] = [t.params["family"] for t in study.trials[5:]]
    assert "lightgbm" in handed["ample"] and "lightgbm" not in handed["short"]


def test_probes_try_a_cheap_family_with_its_defaults_and_the_start_resumes(
        meta_trained, lightgbm_takes):
    from synthetic import synthetic_kb

    lightgbm_takes(0.05)
    latent = HELD_OUT[1]  # LightGBM is the better family: the start keeps to it
    kb = synthetic_kb()  # where k-NN fits 100 times faster than LightGBM
    kb.evaluations.loc[kb.evaluations["family"] == "knn", "fit_seconds"] = 0.001
    trained = (kb, meta_trained[1])
    runs = {}
    for name, kwargs in [("probes", {"time_left": lambda: 0.5}),  # about 10 trials' time
                         ("none", {"time_left": lambda: 0.5, "probe_share": 0.0}),
                         ("ample", {"time_left": lambda: 1000.0}),
                         ("no budget", {})]:
        study = optuna.create_study(direction="maximize", sampler=sampler_for(
            trained, latent, seed=0, n_startup=3, exploration=0.0, **kwargs))
        study.optimize(objective_for(latent), n_trials=8)
        runs[name] = study.trials
    # Once a LightGBM trial has shown how slow this dataset is, k-NN, predicted 100
    # times faster and not tried yet, gets a trial of its defaults; then the zero-shot
    # start goes on where it was, and no family is probed twice.
    assert sources_of(runs["probes"])[:5] == ["portfolio", "probe", "portfolio",
                                              "portfolio", "surrogate"]
    assert sources_of(runs["probes"]).count("probe") == 1
    assert runs["probes"][1].params == trial_params("knn", default_params("knn", TASK))
    start = [t.params for t in runs["none"][:3]]
    assert [runs["probes"][i].params for i in (0, 2, 3)] == start
    assert all(t.params["family"] == "lightgbm" for t in runs["none"][:3])
    # No probes when turned off, without a time budget, or with time for many trials
    # (PROBE_HORIZON), where the coverage schedule comes in time.
    for name in ("none", "no budget", "ample"):
        assert "probe" not in sources_of(runs[name])
    with pytest.raises(DataValidationError, match="probe_share"):
        sampler_for(trained, latent, probe_share=1.5)


def test_a_sampler_reused_for_another_study_reads_its_trials_afresh():
    # The sampler reads a finished trial's configuration and cost once; a second
    # in-memory study has the same trial ids and numbers, and other configurations.
    kb = KnowledgeBase.load()
    features = kb.metafeatures.set_index("dataset").iloc[0]

    def run(family: str, sampler=None) -> tuple[optuna.Study, MetaLearnedSampler]:
        sampler = sampler or MetaLearnedSampler(metafeatures=features, task="classification",
                                                knowledge_base=kb, time_left=lambda: 60.0)
        study = optuna.create_study(sampler=sampler)
        params = trial_params(family, default_params(family, "classification"))
        trial = optuna.trial.create_trial(
            params=params, value=0.3,
            distributions={k: CategoricalDistribution([v]) for k, v in params.items()})
        trial.datetime_complete = trial.datetime_start + pd.Timedelta(seconds=2)
        study.add_trial(trial)
        return study, sampler

    def read(study, sampler):
        past = study.get_trials(deepcopy=False)
        return sampler._others(study.ask(), past, set())[2], sampler._costs.calibrate(past)

    first, reused = run("knn")
    read(first, reused)
    second, _ = run("random_forest", reused)
    assert second.trials[0]._trial_id == first.trials[0]._trial_id
    keys, scale = read(second, reused)
    assert (keys, scale) == read(*run("random_forest"))
    assert scale[None] == scale["random_forest"]  # the one family measured


def test_probe_trials_do_not_calibrate_the_costs_of_other_families():
    kb = KnowledgeBase.load()
    features = kb.metafeatures.set_index("dataset").iloc[0]
    costs = MetaLearnedSampler(metafeatures=features, task="classification",
                               knowledge_base=kb, time_left=lambda: 60.0)._costs

    def finished(family: str, seconds: float, source: str):
        params = trial_params(family, default_params(family, "classification"))
        trial = optuna.trial.create_trial(
            params=params, value=0.9, system_attrs={CONFIG: {"source": source}},
            distributions={k: CategoricalDistribution([v]) for k, v in params.items()})
        trial.datetime_complete = trial.datetime_start + pd.Timedelta(seconds=seconds)
        return trial

    forest = [finished("random_forest", 10.0, "portfolio")]
    alone = costs.calibrate(forest)
    # A k-NN trial as slow as the forest says the study is far slower than the forest
    # alone does, unless it was a probe: then it calibrates k-NN only.
    knn = finished("knn", 10.0, "probe")
    assert costs.calibrate([*forest, knn])[None] == alone[None]
    assert costs.calibrate([*forest, knn])["knn"] > alone.get("knn", alone[None])
    knn.system_attrs[CONFIG]["source"] = "surrogate"
    assert costs.calibrate([*forest, knn])[None] > alone[None] + 0.5
    # Probes alone still calibrate every family.
    assert costs.calibrate([knn])[None] == costs.calibrate([finished("knn", 10.0, "probe")])[None]


def test_a_trial_stopped_early_counts_with_its_projected_seconds():
    params = trial_params("knn", default_params("knn", "classification"))
    trial = optuna.trial.create_trial(
        params=params, state=TrialState.FAIL,
        user_attrs={"status": "timeout", "projected_seconds": 40.0},
        distributions={k: CategoricalDistribution([v]) for k, v in params.items()})
    trial.datetime_complete = trial.datetime_start + pd.Timedelta(seconds=8)
    assert trial_seconds(trial) == 40.0  # not the 8 s it ran before it was stopped
    trial.user_attrs.pop("projected_seconds")
    assert trial_seconds(trial) == 8.0


def test_costs_learned_from_the_knowledge_base_rank_configurations():
    kb = KnowledgeBase.load()
    features = kb.metafeatures.set_index("dataset").iloc[0]
    sampler = MetaLearnedSampler(metafeatures=features, task="classification",
                                 knowledge_base=kb, time_left=lambda: 60.0)
    costs = sampler._costs
    forest = default_params("random_forest", "classification")
    assert costs.relative("random_forest", {**forest, "n_estimators": 500}) > \
        costs.relative("random_forest", {**forest, "n_estimators": 20}) + 1.0
    assert costs.relative("lightgbm", default_params("lightgbm", "classification")) < \
        costs.relative("random_forest", forest)
    # Calibrated by one finished trial: a forest of 10 s predicts a 25-tree one cheaper.
    trial = optuna.trial.create_trial(
        params=trial_params("random_forest", forest), value=0.9,
        distributions={k: CategoricalDistribution([v]) for k, v in
                       trial_params("random_forest", forest).items()})
    trial.datetime_complete = trial.datetime_start + pd.Timedelta(seconds=10)
    scale = costs.calibrate([trial])
    [same, small] = costs.seconds([trial_params("random_forest", forest), trial_params(
        "random_forest", {**forest, "n_estimators": 25})], scale)
    assert same == pytest.approx(10.0) and small < 5.0
    assert costs.calibrate([]) is None


def test_costs_from_a_knowledge_base_without_row_counts_warn_of_nothing(meta_trained):
    # The synthetic knowledge base's evaluations have no sample sizes: the study's size
    # relative to the knowledge base's is unknown, not the median of an all-NaN column
    # (a RuntimeWarning on pandas 2.0, the oldest version allowed: .ci/run runs it).
    kb, _ = meta_trained
    assert kb.scores()["rows"].isna().all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        costs = sampler_for(meta_trained, HELD_OUT[0], time_left=lambda: 60.0)._costs
    assert costs.log_size == 0.0


def test_costs_of_untried_families_grow_with_the_rows_as_in_the_knowledge_base():
    kb = KnowledgeBase.load()
    features = kb.metafeatures.set_index("dataset").iloc[0]
    forest, svm = (default_params(f, "classification") for f in ("random_forest", "svm"))
    trial = optuna.trial.create_trial(
        params=trial_params("random_forest", forest), value=0.9,
        distributions={k: CategoricalDistribution([v]) for k, v in
                       trial_params("random_forest", forest).items()})
    trial.datetime_complete = trial.datetime_start + pd.Timedelta(seconds=2)
    predicted = {}
    for rows in (1_000, 50_000):
        costs = MetaLearnedSampler(metafeatures=features, task="classification",
                                   knowledge_base=kb, time_left=lambda: 60.0,
                                   rows=rows)._costs
        # The extension's 1,000 -> 8,000 rows: an SVM's fit time grows faster than a forest's.
        assert costs.growth["svm"] > costs.growth["random_forest"] + 0.5
        predicted[rows] = costs.seconds([trial_params("svm", svm)], costs.calibrate([trial]))[0]
    assert predicted[50_000] > 5 * predicted[1_000]


def test_beyond_the_knowledge_base_s_columns_each_family_starts_with_its_cheapest():
    import zlib

    from automl_meta.spaces import suggest

    kb = KnowledgeBase.load()
    base = kb.metafeatures.set_index("dataset").iloc[0]

    def sampler(rows: int, columns: int, task: str = "classification") -> MetaLearnedSampler:
        features = base.copy()
        features["n_instances"], features["n_features"] = rows, columns
        return MetaLearnedSampler(metafeatures=features, task=task, knowledge_base=kb,
                                  time_left=lambda: 600.0, seed=0)

    # Beyond: more columns than any timed sample of the knowledge base (1,000) and more
    # cells than all of them. More rows alone are the growth rates' (measured) domain.
    assert sampler(2_000, 2_000)._costs.beyond
    assert sampler(2_000, 2_000, "regression")._costs.beyond
    assert not sampler(100_000, 500)._costs.beyond
    assert not sampler(200, 2_000)._costs.beyond
    # The regression samples have at most 124 columns, but both tasks' samples count.
    assert not sampler(10_000, 500, "regression")._costs.beyond

    def objective(trial) -> float:
        family = trial.suggest_categorical("family", list(ALL_FAMILIES))
        params = suggest(trial, family, "classification", prefix=f"{family}__")
        return zlib.crc32(repr(sorted(params.items())).encode()) / 2**32

    studies = {}
    for name, shape in [("wide", (2_000, 2_000)), ("within", (2_000, 500))]:
        studies[name] = optuna.create_study(direction="maximize", sampler=sampler(*shape))
        studies[name].optimize(objective, n_trials=16)
    assert "frugal" not in sources(studies["within"])
    wide = studies["wide"]
    costs, first = wide.sampler._costs, {}
    configs, *_ = wide.sampler._space.pool(wide.sampler._learner, wide.sampler._n_candidates,
                                           0)
    for trial in wide.trials:
        family, params = config_from_params(trial.params)
        source = trial.system_attrs[CONFIG]["source"]
        if family in first:  # later trials of a family are chosen as usual
            assert source != "frugal"
            continue
        first[family] = params
        # Its first trial is the family's cheapest candidate by the knowledge base's costs.
        assert source == "frugal"
        assert costs.relative(family, params) == min(
            costs.relative(*c) for c in configs if c[0] == family)
    assert len(first) >= 3


def test_costs_are_of_whole_trials_so_k_nn_predicting_counts():
    # A k-NN trial is mostly its prediction of the validation rows, which grows with the
    # rows faster than a forest's fitting; its fitting alone (building a tree of the
    # rows) grows more slowly (benchmarks/cost_growth.py).
    kb = KnowledgeBase.load()
    assert kb.scores()["predict_seconds"].gt(0).any()
    features = kb.metafeatures.set_index("dataset").iloc[0]
    costs = MetaLearnedSampler(metafeatures=features, task="classification",
                               knowledge_base=kb, time_left=lambda: 60.0,
                               rows=50_000)._costs
    assert costs.growth["knn"] > costs.growth["random_forest"] + 0.3
    assert costs.shift("knn", "random_forest") > 0 > costs.shift("extra_trees", "knn")


# ---------------------------------------------------------------------------------------
# Several workers on one study


def test_two_workers_on_one_sqlite_study_never_repeat_a_configuration(meta_trained,
                                                                       tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.create_study(study_name="shared", storage=storage, direction="maximize")
    errors = []

    def worker(seed: int) -> None:
        try:  # each worker has its own sampler, as separate processes would
            study = optuna.load_study(study_name="shared", storage=storage,
                                      sampler=sampler_for(meta_trained, HELD_OUT[4], seed=seed))
            study.optimize(objective_for(HELD_OUT[4]), n_trials=6)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    trials = optuna.load_study(study_name="shared", storage=storage).trials
    assert len(trials) == 12 and all(t.state.name == "COMPLETE" for t in trials)
    keys = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(keys)) == 12
    assert sorted(sources(optuna.load_study(study_name="shared", storage=storage))).count(
        "portfolio") == 5


# ---------------------------------------------------------------------------------------
# warm_start_study


def test_warm_start_study_enqueues_once_with_attributes(meta_trained, tmp_path):
    kb, learner = meta_trained
    X = mixed_frame(60)
    y = mixed_target(X, TASK)
    features = pd.Series(metafeatures_of(np.asarray(HELD_OUT[1])))
    storage = f"sqlite:///{tmp_path / 'warm.db'}"
    study = optuna.create_study(study_name="warm", storage=storage, direction="maximize")
    kwargs = {"metafeatures": features, "learner": learner, "knowledge_base": kb}
    added = warm_start_study(study, X, y, n_configs=4, **kwargs)
    assert len(added) == 4
    again = optuna.load_study(study_name="warm", storage=storage)
    assert warm_start_study(again, X, y, n_configs=4, **kwargs) == []
    waiting = again.get_trials(states=(TrialState.WAITING,))
    assert len(waiting) == 4
    assert [t.user_attrs["automl_meta:rank"] for t in waiting] == [1, 2, 3, 4]
    assert {t.user_attrs["automl_meta:source"] for t in waiting} == {"warm_start"}
    origins = [t.user_attrs["automl_meta:origin"] for t in waiting]
    assert set(origins) <= {"meta-learner", "portfolio", "both"} and "portfolio" in origins
    scores = [t.user_attrs["automl_meta:predicted_score"] for t, origin in zip(
        waiting, origins, strict=True) if origin != "portfolio"]
    assert len(scores) >= 2 and scores == sorted(scores, reverse=True)
    again.optimize(objective_for(HELD_OUT[1]), n_trials=4)
    assert [t.params for t in again.trials] == added
    # Run trials count as present too: a larger request adds only new configurations.
    more = warm_start_study(again, X, y, n_configs=6, **kwargs)
    assert len(more) == 2 and not any(p in added for p in more)
    with pytest.raises(DataValidationError, match="optuna.Study"):
        warm_start_study("warm", X, y, **kwargs)


# ---------------------------------------------------------------------------------------
# Learning from the user's own studies (a custom search space)


def custom_objective(shift: float):
    """A related family of tasks in a space of our own: the best x moves with the task."""

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 1e-3, 10.0, log=True)
        depth = trial.suggest_int("depth", 1, 12)
        kind = trial.suggest_categorical("kind", ["a", "b", "c"])
        return ((np.log10(x) - shift) ** 2 + 0.02 * (depth - 8) ** 2
                + {"a": 0.3, "b": 0.0, "c": 0.6}[kind])

    return objective


@pytest.fixture(scope="module")
def past_studies():
    """Eight past studies of related tasks, 40 random trials each (in memory: fast)."""
    storage = optuna.storages.InMemoryStorage()
    rng = np.random.default_rng(0)
    names = []
    for i in range(8):
        study = optuna.create_study(study_name=f"past{i}", storage=storage,
                                    sampler=optuna.samplers.RandomSampler(seed=i))
        study.optimize(custom_objective(-1 + 0.3 * rng.normal()), n_trials=40)
        names.append(study.study_name)
    return storage, names


def test_from_studies_beats_tpe_on_new_related_tasks(past_studies):
    storage, names = past_studies
    learned = MetaLearnedSampler.from_studies(storage, names, seed=0)  # joint, 1500 steps
    best = {"from_studies": [], "tpe": []}
    for shift in (-0.8, -1.3, -0.5):  # optima the past studies did not have
        for seed in range(3):
            samplers = {"from_studies": MetaLearnedSampler(learner=learned.learner, seed=seed),
                        "tpe": optuna.samplers.TPESampler(seed=seed)}
            for name, sampler in samplers.items():
                study = optuna.create_study(sampler=sampler)
                study.optimize(custom_objective(shift), n_trials=15)
                best[name].append(study.best_value)
    ours, tpe = (np.asarray(best[k]).reshape(3, 3).mean(axis=1) for k in ("from_studies", "tpe"))
    assert ours.mean() < 0.5 * tpe.mean()
    assert (ours < tpe).sum() >= 2


def test_train_from_studies_command(tmp_path, capsys):
    storage = f"sqlite:///{tmp_path / 'past.db'}"
    names = [f"past{i}" for i in range(3)]
    for i, name in enumerate(names):
        study = optuna.create_study(study_name=name, storage=storage,
                                    sampler=optuna.samplers.RandomSampler(seed=i))
        study.optimize(custom_objective(-1.0), n_trials=6)
    out = tmp_path / "learner"
    code = main(["train", "--from-studies", *names, "--storage", storage, "--steps", "5",
                 "--members", "2", "--out", str(out), "--quiet"])
    assert code == EXIT_OK and "trained on 3 datasets" in capsys.readouterr().out
    learner = MetaLearner.load(out)
    assert set(learner.custom_spaces_[CUSTOM_FAMILY]) == {"x", "depth", "kind"}
    assert main(["train", "--from-studies", "nope", "--storage", storage, "--out",
                 str(out)]) != EXIT_OK
    assert "no study named 'nope'" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# KnowledgeBase.from_frame


def test_from_frame_custom_space_is_inferred():
    frame = pd.DataFrame({"task": ["t1"] * 3 + ["t2"] * 3,
                          "lr": [1e-4, 1e-2, 1e-1, 3e-4, 3e-3, 0.3],
                          "layers": [1, 2, 3, 1, 2, 4],
                          "act": ["relu", "tanh", "relu", "gelu", "relu", "tanh"],
                          "acc": [0.7, 0.8, np.nan, 0.6, 0.75, 0.72]})
    kb = KnowledgeBase.from_frame(frame, "task", "acc", ["lr", "layers", "act"])
    space = custom_spaces(kb)[CUSTOM_FAMILY]
    assert space["lr"] == FloatDistribution(1e-4, 0.3, log=True)
    assert space["layers"] == IntDistribution(1, 4)
    assert space["act"] == CategoricalDistribution(["gelu", "relu", "tanh"])
    scores = kb.scores()
    assert len(scores) == 6 and (scores["status"] == "failed").sum() == 1
    # Higher accuracy is a lower loss.
    t1 = scores[(scores["dataset"] == "t1") & (scores["status"] == "ok")]
    assert list(t1.sort_values("loss")["score"]) == [0.8, 0.7]


def test_from_frame_built_in_family_and_bad_input():
    params = default_params("knn", TASK)
    frame = pd.DataFrame({"dataset": ["d1", "d1", "d2"], "family": ["knn"] * 3,
                          "params": [params, {**params, "n_neighbors": 3}, params],
                          "auc": [0.8, 0.7, 0.9]})
    kb = KnowledgeBase.from_frame(frame, "dataset", "auc", "params", family_column="family",
                                  metric="roc_auc")
    assert set(kb.configurations["family"]) == {"knn"}
    assert kb.evaluations["roc_auc"].notna().all()
    with pytest.raises(DataValidationError, match="nope"):
        KnowledgeBase.from_frame(frame, "dataset", "nope", "params")
    with pytest.raises(DataValidationError, match="non-empty DataFrame"):
        KnowledgeBase.from_frame(frame.iloc[:0], "dataset", "auc", "params")
    bad = frame.assign(params=[{**params, "n_neighbors": -4}] * 3)
    with pytest.raises(InvalidParamsError, match="n_neighbors=-4 is outside"):
        KnowledgeBase.from_frame(bad, "dataset", "auc", "params", family_column="family")


def test_from_frame_distributions_override_inference():
    frame = pd.DataFrame({"task": ["a", "a", "b", "b"], "p": [0.1, 0.2, 0.3, 0.4],
                          "score": [1.0, 2.0, 3.0, 1.5]})
    dists = {"p": FloatDistribution(0.0, 1.0)}
    kb = KnowledgeBase.from_frame(frame, "task", "score", ["p"], maximize=False,
                                  distributions=dists)
    learner = MetaLearner(steps=2, n_members=1, hidden_size=8, device="cpu").fit(kb)
    assert learner.custom_spaces_[CUSTOM_FAMILY]["p"] == dists["p"]


# ---------------------------------------------------------------------------------------
# The estimator's meta-learned search


def test_estimator_warm_starts_from_a_knowledge_base_folder(meta_trained, tmp_path):
    kb, learner = meta_trained
    folder = kb.save(tmp_path / "kb")
    learner.save(folder / "metalearner")
    X = mixed_frame(80)
    y = mixed_target(X, TASK)
    model = AutoMetaClassifier(n_trials=6, time_budget=None, cv=2, families=list(FAMILIES),
                               knowledge_base=str(folder), random_state=0).fit(X, y)
    assert model.metafeatures_ is not None and len(model.metafeatures_) > 100
    got = [t.system_attrs[CONFIG]["source"] for t in model.study_.trials]
    assert got[:5] == ["portfolio"] * 5
    assert not any(t.user_attrs.get("source") == "default" for t in model.study_.trials)
    assert model.score(X, y) > 0.7
    saved = pickle.dumps(model)  # without the sampler's knowledge base: small
    assert len(saved) < 1_000_000
    np.testing.assert_array_equal(pickle.loads(saved).predict(X), model.predict(X))
