"""Warm-started Optuna studies: :class:`MetaLearnedSampler` and :func:`warm_start_study`.

Parameter names: a configuration of a built-in model family is, in an Optuna trial,
``family`` (categorical) plus ``<family>__<name>`` for each of its hyperparameters
(:func:`trial_params`); objectives that use these names (as
:class:`~automl_meta.estimators.AutoMetaClassifier` does) get the full benefit. A sampler
meta-trained on past studies of any search space (:meth:`MetaLearnedSampler.from_studies`)
uses those studies' own parameter names.

Example
-------
>>> import optuna
>>> from automl_meta import MetaLearnedSampler, warm_start_study
>>> sampler = MetaLearnedSampler(X, y)  # doctest: +SKIP
>>> study = optuna.create_study(sampler=sampler)  # doctest: +SKIP
>>> study.optimize(objective, n_trials=50)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from automl_meta.exceptions import (
    DataSourceError,
    DataValidationError,
    InvalidParamsError,
    KnowledgeBaseError,
)
from automl_meta.metalearner import DEFAULT_METHOD
from automl_meta.spaces import (
    FAMILIES,
    default_params,
    from_unit,
    get_family,
    validate_params,
    value_from_unit,
)

#: Prefix of the attributes this package writes on trials.
ATTR = "automl_meta"
_CONFIG_ATTR = f"{ATTR}:config"
#: Choices a trial makes at most when other workers keep claiming the same configuration.
_CLAIM_ATTEMPTS = 3


#: Trials taken from the zero-shot start (the recommendation's order) before the
#: adapted surrogate chooses.
N_STARTUP = 5
#: Weight of the ensemble's spread in the upper confidence bound ``mean + beta * std``.
BETA = 1.0
#: Coverage: trial ``n_startup + COVERAGE_OFFSET``, and every ``COVERAGE_PERIOD``-th
#: trial after it, goes to the best candidate of a family the study has not tried yet
#: while one is left. The meta-learner can rank a whole family low on a dataset where
#: it wins (linear models on Hill_Valley); one trial of it is then enough for the
#: adapted surrogate to see it (benchmarks/metalearner.py measures the schedule).
COVERAGE_OFFSET = 2
COVERAGE_PERIOD = 5
#: With ``time_left``: the largest share of the time left that a proposed configuration
#: may be predicted to take (while an affordable one exists).
AFFORDABLE_SHARE = 0.25
#: With ``time_left``: normal-score units the acquisition gives up per unit of log
#: predicted seconds, ``mean + beta * std - cost_weight * log(seconds)``: a configuration
#: ten times slower must be predicted 0.23 better. Under a time budget a slow trial costs
#: the trials it displaces (improvement per second, as in Snoek et al. 2012's "EI per
#: second"); benchmarks/cost_weight.py measures the weight.
COST_WEIGHT = 0.1
#: Hand-over: from trial ``FALLBACK_AFTER`` on, a share ``FALLBACK_SHARE`` of the trials
#: (every second one) is left whole to the ``fallback`` sampler (TPE). After a few dozen
#: trials the adapted surrogate stops improving on the incumbents of small datasets,
#: where TPE's density model keeps refining their region; the two alternate (measured
#: with and without in docs/benchmarks.md and benchmarks/metalearner.py).
FALLBACK_AFTER = 20
FALLBACK_SHARE = 0.5
#: With ``time_left``, on data where the budget holds few trials: a family not tried yet
#: whose defaults are predicted to take at most ``PROBE_SHARE`` of the median finished
#: trial's time gets a trial of them at once (a probe), before the start and the coverage
#: schedule reach it. There the coverage schedule comes late or never, and a family the
#: meta-learner ranks low (linear models on Hill_Valley) is never tried; a probe costs at
#: most a fifth of a trial. Where the budget holds more trials, covering families early
#: does not pay (benchmarks/metalearner.py, and benchmarks/cost_weight.py for probes).
PROBE_SHARE = 0.2
#: Probes are made while the whole budget (the time since the study's first trial began
#: plus the time left) is expected to hold fewer than ``PROBE_HORIZON`` trials of the
#: median finished trial's duration: the coverage schedule (trials 8, 13, ..., 28) then
#: reaches at most five families, which with the three or four of the start is not all
#: eight, and the family it reaches last is the one the meta-learner rates lowest.
PROBE_HORIZON = 30


def is_fallback_trial(number: int, after: int, share: float) -> bool:
    """Whether trial ``number`` is left to the fallback sampler: from trial ``after`` on,
    trials spread evenly so that ``share`` of them are (the first of them included)."""
    k = number - after
    if k < 0:
        return False
    # Rounded so that a share such as 0.1 does not drift with floating-point error.
    return math.ceil(round((k + 1) * share, 9)) > math.ceil(round(k * share, 9))


def trial_seconds(trial: FrozenTrial) -> float | None:
    """How long a finished (complete or failed) trial took; None for one still running.

    For a trial stopped in or after its first folds because they projected it past its
    share of the time left (``projected_seconds``, set by the estimators), the
    projection (for a fold stopped as it ran, its lower bound: the limit)."""
    if (trial.state not in (TrialState.COMPLETE, TrialState.FAIL)
            or trial.datetime_start is None or trial.datetime_complete is None):
        return None
    projected = trial.user_attrs.get("projected_seconds")
    if projected is not None:
        return float(projected)
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def is_coverage_trial(number: int, n_startup: int) -> bool:
    """Whether trial ``number`` goes to a family not tried yet, when one is left."""
    after = number - n_startup - COVERAGE_OFFSET
    return after >= 0 and after % COVERAGE_PERIOD == 0


def trial_params(family: str, params: Mapping) -> dict:
    """A configuration as Optuna trial parameters: ``family`` and ``<family>__<name>``."""
    return {"family": family, **{f"{family}__{k}": v for k, v in params.items()}}


def config_from_params(params: Mapping) -> tuple[str, dict] | None:
    """The (family, hyperparameters) of trial parameters written by :func:`trial_params`;
    None when ``params`` has no known ``family``."""
    family = params.get("family")
    if family not in FAMILIES:
        return None
    prefix = f"{family}__"
    return family, {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}


class MetaLearnedSampler(BaseSampler):
    """An Optuna sampler that starts where the meta-learner expects good models.

    Trial ``n`` (``n < n_startup``) takes the ``n``-th configuration of the zero-shot
    portfolio (:func:`~automl_meta.recommendation.recommend`'s diverse top-k). Every later
    trial adapts the meta-learner to the study's completed trials
    (:meth:`MetaLearner.adapt`, a few gradient steps from the meta-learned weights) and
    takes the candidate with the best upper confidence bound, ``mean + beta * std``,
    among the knowledge base's design and a random sample of every family's space (no
    perturbations of the best trials: the adapted surrogate rates near-copies of the
    incumbents highly, and studies that took them stalled; benchmarks/sampler.py). With
    probability ``exploration`` a trial instead takes a uniformly random configuration of
    the full space, so that no region stays out of reach; and a coverage trial now and
    then takes the best candidate of a family not tried yet (``coverage``); under a time
    budget that holds few trials, such a family is probed at once, with its defaults,
    when they are predicted to cost a small share of a trial (``probe_share``). From
    trial ``fallback_after`` on, a share ``fallback_share`` of the trials is left whole
    to ``fallback`` (TPE), which refines the incumbents' region where the adapted
    surrogate has stopped improving.
    Parameters the sampler does not know go to ``fallback`` too.

    Several workers can share one study on an RDB storage: the portfolio is indexed by
    trial number, each decision is written to the trial's system attributes
    (``automl_meta:config``) and a configuration already in the study is not proposed
    again.

    Parameters
    ----------
    X, y : data of the study's dataset, or None
        Embedded by its meta-features; needed for the built-in families unless
        ``metafeatures`` is given.
    task : {"classification", "regression"} or None
        None: inferred from ``y``.
    metafeatures : pandas.Series or None
        Raw meta-features of the dataset, when already extracted.
    learner : MetaLearner or None
        None: the shipped one.
    knowledge_base : KnowledgeBase or None
        Where design configurations come from; None: the shipped one (built-in families).
    families : sequence of str or None
        Restrict to these families (the study's ``family`` choices).
    n_startup : int, default 5
        Trials taken from the zero-shot portfolio.
    n_candidates : int, default 64
        Random candidates per family per trial.
    beta : float, default 1.0
        Weight of the ensemble's standard deviation in the acquisition.
    exploration : float, default 0.1
        Probability of a uniformly random trial.
    coverage : bool, default True
        Trial ``n_startup + 2``, and every fifth trial after it, takes the best
        candidate of a family the study has not tried yet, while one is left
        (:data:`COVERAGE_OFFSET`, :data:`COVERAGE_PERIOD`; the trial's source is
        ``"coverage"``), so that a family the meta-learner ranks low on this dataset
        still gets a trial.
    fallback : optuna.samplers.BaseSampler or None
        For parameters outside the chosen configuration, and for every parameter of the
        hand-over trials; None: ``TPESampler(seed=seed)``.
    fallback_after : int, default 20
        The first trial that may be left to ``fallback`` (:data:`FALLBACK_AFTER`).
    fallback_share : float, default 0.5
        The share of the trials from ``fallback_after`` on that ``fallback`` proposes
        whole, spread evenly (:func:`is_fallback_trial`; their source is ``"fallback"``);
        0: none, the meta-learner chooses every trial. Under ``time_left`` a proposal
        predicted not to fit is drawn again (the surrogate chooses when none fits). On
        datasets small enough for a search to run dozens of trials, alternating with
        TPE found better configurations than either alone (:data:`FALLBACK_SHARE`).
    time_left : callable or None
        For a search under a time budget: returns the seconds the search has left. Each
        trial's duration then calibrates a cost model (which hyperparameters make a
        family slow, learned from the knowledge base's fit and predict times; a family
        not tried yet is corrected by how fast its time grows with the rows), and
        configurations predicted to take more than :data:`AFFORDABLE_SHARE` of the time
        left are not proposed while an affordable one exists: on data much larger than
        the knowledge base's, the portfolio's large forests would otherwise use up a
        short budget in two or three trials. The startup configuration predicted
        cheapest goes first, so that the first trial, which nothing screens, finishes
        soon. On data wider than any of the knowledge base's timed samples, and larger
        than all of them in cells (rows x columns), the first trial of each family is its
        cheapest candidate (source ``"frugal"``): there the knowledge base's relative
        costs do not carry over (a tree model's time grows with the columns much faster
        than a linear model's), and a family's first configuration, predicted from
        another's trial, used up a minute's budget in a fold. Built-in families only.
    cost_weight : float, default 0.1
        With ``time_left``: the acquisition becomes ``mean + beta * std - cost_weight *
        log(predicted seconds)`` once a trial has finished (:data:`COST_WEIGHT`), so
        that a slow configuration must be predicted that much better than a fast one;
        0: cost screens unaffordable configurations only. Ignored without
        ``time_left``.
    probe_share : float, default 0.2
        With ``time_left``, while the budget is expected to hold fewer than
        :data:`PROBE_HORIZON` trials: once a trial has finished, a family not tried yet
        whose defaults are predicted to take at most this share of the median finished
        trial gets the next trial, with its defaults (a probe: source ``"probe"``, one
        per family; the zero-shot start resumes after it). :data:`PROBE_SHARE`; 0: no
        probes. Ignored without ``time_left``.
    rows : int or None
        The rows each trial trains and validates on, when the objective uses a subsample
        of the dataset; None: all of them. What the meta-learner predicts for (see
        :func:`~automl_meta.recommendation.recommend`).
    seed : int or None
    """

    def __init__(self, X=None, y=None, *, task: str | None = None,
                 metafeatures: pd.Series | None = None, learner=None, knowledge_base=None,
                 families: Sequence[str] | None = None, n_startup: int = N_STARTUP,
                 n_candidates: int = 64, beta: float = BETA, exploration: float = 0.1,
                 coverage: bool = True, fallback: BaseSampler | None = None,
                 fallback_after: int = FALLBACK_AFTER, fallback_share: float = FALLBACK_SHARE,
                 time_left=None, cost_weight: float = COST_WEIGHT,
                 probe_share: float = PROBE_SHARE, rows: int | None = None,
                 seed: int | None = None) -> None:
        for name, value, low in (("n_startup", n_startup, 0), ("n_candidates", n_candidates, 1),
                                 ("fallback_after", fallback_after, 0)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                raise DataValidationError(f"{name} must be an integer >= {low}, got {value!r}")
        if not (isinstance(beta, (int, float)) and math.isfinite(beta) and beta >= 0):
            raise DataValidationError(f"beta must be a finite number >= 0, got {beta!r}")
        if not (isinstance(cost_weight, (int, float)) and not isinstance(cost_weight, bool)
                and math.isfinite(cost_weight) and cost_weight >= 0):
            raise DataValidationError(
                f"cost_weight must be a finite number >= 0, got {cost_weight!r}")
        for name, value in (("exploration", exploration), ("fallback_share", fallback_share),
                            ("probe_share", probe_share)):
            if not (isinstance(value, (int, float)) and not isinstance(value, bool)
                    and 0 <= value <= 1):
                raise DataValidationError(f"{name} must be within [0, 1], got {value!r}")
        if not isinstance(coverage, (bool, np.bool_)):
            raise DataValidationError(f"coverage must be True or False, got {coverage!r}")
        if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
            raise DataValidationError(f"seed must be an integer or None, got {seed!r}")
        if fallback is not None and not isinstance(fallback, BaseSampler):
            raise DataValidationError("fallback must be an optuna sampler, got "
                                      f"{type(fallback).__name__}")
        if time_left is not None and not callable(time_left):
            raise DataValidationError("time_left must be a function returning seconds, got "
                                      f"{type(time_left).__name__}")
        from automl_meta.recommendation import shipped_learner

        self._learner = learner if learner is not None else shipped_learner()
        self._space = _space_of(self._learner, task, X, y, metafeatures, knowledge_base,
                                families, rows)
        self._n_startup = int(n_startup)
        self._n_candidates = int(n_candidates)
        self._beta = float(beta)
        self._cost_weight = float(cost_weight)
        self._probe_share = float(probe_share)
        self._exploration = float(exploration)
        self._coverage = bool(coverage)
        self._fallback_after = int(fallback_after)
        self._fallback_share = float(fallback_share)
        self._seed = np.random.SeedSequence(seed).entropy if seed is None else int(seed)
        self._fallback = fallback if fallback is not None else optuna.samplers.TPESampler(
            seed=seed)
        self._time_left = time_left
        self._costs = (_Costs(self._space) if time_left is not None
                       and isinstance(self._space, _FamilySpace) else None)
        self._lock = threading.Lock()
        self._chosen: dict[int, dict] = {}
        self._keys: dict[tuple, list] = {}  # configuration keys of finished trials
        self._portfolio: list[dict] | None = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        del state["_lock"]  # a lock cannot be pickled; a fresh one is made on loading
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def learner(self):
        """The meta-trained :class:`~automl_meta.metalearner.MetaLearner` this sampler
        adapts to each study (shareable between samplers)."""
        return self._learner

    # -- learning from past studies -------------------------------------------------------

    @classmethod
    def from_studies(cls, storage, study_names: Sequence[str], *,
                     metafeatures: pd.DataFrame | None = None, method: str = DEFAULT_METHOD,
                     steps: int | None = None, seed: int = 0,
                     **kwargs) -> MetaLearnedSampler:
        """A sampler meta-trained on past Optuna studies of any search space.

        Each study is a task; its completed trials (value oriented by the study's
        direction) teach the meta-learner which regions of the space do well across
        tasks, so that a new study of a related task starts there.

        Parameters
        ----------
        storage : str or optuna.storages.BaseStorage
        study_names : sequence of str
        metafeatures : DataFrame or None
            Optional raw features of each study's task (indexed by study name); pass the
            new task's as ``metafeatures=`` (a Series) in ``kwargs``.
        method, steps, seed
            Meta-training settings (:class:`~automl_meta.metalearner.MetaLearner`).
        **kwargs
            Passed to the constructor (``n_startup``, ``beta``, ...).
        """
        from automl_meta.metalearner import MetaLearner

        knowledge_base = studies_knowledge_base(storage, study_names, metafeatures)
        learner = MetaLearner(method, steps=steps, seed=seed).fit(knowledge_base)
        kwargs.setdefault("seed", seed)
        return cls(learner=learner, knowledge_base=knowledge_base, **kwargs)

    # -- the sampler interface ------------------------------------------------------------

    def reseed_rng(self) -> None:
        self._fallback.reseed_rng()

    def infer_relative_search_space(self, study, trial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study, trial, search_space) -> dict:
        return {}

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution):
        config = self._config_for(study, trial)
        if param_name in config:
            value = config[param_name]
            try:
                if param_distribution._contains(param_distribution.to_internal_repr(value)):
                    return value
            except (ValueError, TypeError):
                pass
        return self._fallback.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._fallback.before_trial(study, trial)

    def after_trial(self, study, trial, state, values) -> None:
        with self._lock:
            self._chosen.pop(trial._trial_id, None)
        self._fallback.after_trial(study, trial, state, values)

    # -- choosing a configuration -------------------------------------------------------------

    def _config_for(self, study: optuna.Study, trial: FrozenTrial) -> dict:
        with self._lock:
            if trial._trial_id not in self._chosen:
                if len(study.directions) != 1:
                    raise DataValidationError(
                        "MetaLearnedSampler supports single-objective studies only")
                taken: set = set()
                for _ in range(_CLAIM_ATTEMPTS):
                    choice = self._choose(study, trial, taken)
                    study._storage.set_trial_system_attr(trial._trial_id, _CONFIG_ATTR, choice)
                    if not choice["params"] or not _claimed_earlier(study, trial,
                                                                    choice["params"]):
                        break
                    taken.add(_key(choice["params"]))
                self._chosen[trial._trial_id] = choice["params"]
            return self._chosen[trial._trial_id]

    def _choose(self, study: optuna.Study, trial: FrozenTrial, taken: set) -> dict:
        """The trial's configuration: ``source``, ``params`` and what was predicted of it
        (``predicted_score`` and ``uncertainty`` for the surrogate's choices;
        ``predicted_seconds`` under a time budget once a trial has finished)."""
        past = study._storage.get_all_trials(study._study_id, deepcopy=False)
        affordable = self._affordability(past)
        choice = None
        if is_fallback_trial(trial.number, self._fallback_after, self._fallback_share):
            choice = self._hand_over(study, trial, past, affordable)
        if choice is None:
            others = self._others(trial, past, taken)
            choice = (self._probe(trial, past, others, affordable)
                      or self._decide(study, trial, taken, past, others, affordable))
            choice = self._frugal(choice, past, others[2]) or choice
        seconds = float(affordable([choice["params"]], with_seconds=True)[1][0])
        return {**choice, "predicted_seconds": seconds} if seconds > 0 else choice

    def _others(self, trial: FrozenTrial, past: list[FrozenTrial], taken: set
                ) -> tuple[list[FrozenTrial], list[dict], set]:
        """The study's other trials, the parameters they ran or claimed, and the keys of
        those and of ``taken`` (configurations this trial may not propose)."""
        others = [t for t in past if t._trial_id != trial._trial_id]
        claimed = [t.params for t in others if t.params]
        claimed += [t.system_attrs[_CONFIG_ATTR]["params"] for t in others
                    if _CONFIG_ATTR in t.system_attrs]
        seen = set(taken)
        for t in others:
            # A finished trial's keys are made once, not at every later trial.
            finished = _finished_key(t) if t.state.is_finished() else None
            keys = self._keys.get(finished)  # None for a trial still running
            if keys is None:
                keys = [_key(t.params)] if t.params else []
                if _CONFIG_ATTR in t.system_attrs:
                    keys.append(_key(t.system_attrs[_CONFIG_ATTR]["params"]))
                if finished is not None:
                    self._keys[finished] = keys
            seen.update(keys)
        return others, claimed, seen

    def _decide(self, study: optuna.Study, trial: FrozenTrial, taken: set,
                past: list[FrozenTrial], others: tuple[list[FrozenTrial], list[dict], set],
                affordable) -> dict:
        """A start, exploration, surrogate or coverage trial's configuration; ``others``
        is what :meth:`_others` returns."""
        space = self._space
        rng = np.random.default_rng([self._seed, trial.number, len(taken)])
        others, claimed, seen = others
        # Probes come on top of the zero-shot start, which resumes where it was.
        position = trial.number - sum(t.system_attrs.get(_CONFIG_ATTR, {}).get("source")
                                      == "probe" for t in others)
        if position < self._n_startup:
            portfolio = self._zero_shot_portfolio()
            if (position < len(portfolio) and _key(portfolio[position]) not in seen
                    and affordable([portfolio[position]])[0]):
                return {"source": "portfolio", "params": portfolio[position]}
        if rng.random() < self._exploration:
            drawn = [space.random(rng) for _ in range(
                1 if self._costs is None else _EXPLORATION_DRAWS)]
            ok = np.flatnonzero(affordable(drawn))
            if ok.size:  # else the surrogate picks among the affordable candidates
                return {"source": "exploration", "params": drawn[ok[0]]}
        sign = 1.0 if study.direction == StudyDirection.MINIMIZE else -1.0
        observed = [(space.parse(t.params), sign * t.value) for t in past
                    if t.state == TrialState.COMPLETE and t.value is not None
                    and math.isfinite(t.value)]
        observed = [(c, loss) for c, loss in observed if c is not None]
        learner = space.adapt(self._learner, observed)
        configs, keys, family_index, hyperparameters = space.pool(
            self._learner, self._n_candidates, int(self._seed) % (2**32))
        fresh = np.flatnonzero([k not in seen for k in keys])
        if not fresh.size:
            return {"source": "exploration", "params": space.random(rng)}
        mean, std = learner._predict_encoded(space.embedding(learner), family_index[fresh],
                                             hyperparameters[fresh])
        ok, seconds = affordable([space.to_params(configs[i]) for i in fresh],
                                 with_seconds=True)
        acquisition = mean + self._beta * std - self._cost_weight * _log_cost(seconds)
        source = "surrogate"
        if self._coverage and is_coverage_trial(trial.number, self._n_startup):
            tried = {space.family_of(c) for c in map(space.parse, claimed) if c is not None}
            untried = np.array([space.family_of(configs[i]) not in tried for i in fresh])
            if (ok & untried).any():
                ok, source = ok & untried, "coverage"
        # Nothing affordable: the quickest, the likeliest to finish in time.
        i = int(np.argmax(np.where(ok, acquisition, -np.inf))) if ok.any() else int(
            np.argmin(seconds))
        return {"source": source, "params": space.to_params(configs[fresh[i]]),
                "predicted_score": float(mean[i]), "uncertainty": float(std[i])}

    def _probe(self, trial: FrozenTrial, past: list[FrozenTrial],
               others: tuple[list[FrozenTrial], list[dict], set],
               affordable) -> dict | None:
        """A probe trial's configuration (``probe_share``): the defaults of a family not
        tried yet, predicted to take at most ``probe_share`` of the median finished trial
        (of several such families, the one the meta-learner rates best by its upper
        confidence bound); None when there is none, no time budget, no finished trial,
        or a budget expected to hold :data:`PROBE_HORIZON` trials or more. A family's
        defaults are its typical member: its best-rated candidate would be the
        meta-learner's guess in a family it rates low, where it may well be wrong."""
        space = self._space
        if self._costs is None or self._probe_share <= 0:
            return None
        durations = [s for s in map(trial_seconds, past) if s is not None]
        if not durations:
            return None
        median = float(np.median(durations))
        first = min(t.datetime_start for t in past if t.datetime_start is not None)
        budget = (datetime.now() - first).total_seconds() + max(float(self._time_left()), 0.0)
        if budget >= PROBE_HORIZON * median:
            return None
        _, claimed, seen = others
        tried = {space.family_of(c) for c in map(space.parse, claimed) if c is not None}
        defaults = [space.to_params((f, default_params(f, space.task)))
                    for f in space.context.families if f not in tried]
        defaults = [p for p in defaults if _key(p) not in seen]
        if not defaults:
            return None
        ok, seconds = affordable(defaults, with_seconds=True)
        cheap = np.flatnonzero(ok & (seconds > 0) & (seconds <= self._probe_share * median))
        if not cheap.size:
            return None
        configs = [space.parse(defaults[i]) for i in cheap]
        families, hyperparameters = space.encode(self._learner, configs)
        mean, std = self._learner._predict_encoded(space.embedding(self._learner), families,
                                                   hyperparameters)
        i = int(np.argmax(mean + self._beta * std))
        return {"source": "probe", "params": defaults[cheap[i]],
                "predicted_score": float(mean[i]), "uncertainty": float(std[i])}

    def _frugal(self, choice: dict, past: list[FrozenTrial], seen: set) -> dict | None:
        """On data beyond the knowledge base's timed samples (``_Costs.beyond``), the
        first trial of a family is its cheapest candidate (by the knowledge base's
        relative costs, among those not tried), so that the family's cost is measured
        before a costly configuration of it can use up the budget: ``choice`` replaced,
        or None when it stands (within the knowledge base's range, or a family with a
        finished trial)."""
        space = self._space
        if self._costs is None or not self._costs.beyond:
            return None
        config = space.parse(choice["params"])
        if config is None:
            return None
        family = space.family_of(config)
        if any(trial_seconds(t) is not None and (t.params or {}).get("family") == family
               for t in past):
            return None
        configs, keys, _, _ = space.pool(self._learner, self._n_candidates,
                                         int(self._seed) % (2**32))
        costs = [(self._costs.relative(*c), i) for i, c in enumerate(configs)
                 if c[0] == family and keys[i] not in seen]
        if not costs:
            return None
        i = min(costs)[1]
        return {"source": "frugal", "params": space.to_params(configs[i])}

    def _hand_over(self, study: optuna.Study, trial: FrozenTrial, past: list[FrozenTrial],
                   affordable) -> dict | None:
        """A hand-over trial's configuration, every parameter proposed by the fallback
        sampler; None when none of its proposals is affordable (the surrogate then
        chooses, weighing cost): TPE knows nothing of cost, and one slow proposal can use
        up what is left of a short budget. In a custom search space the fallback samples
        the objective's parameters as they are asked for (``params`` empty)."""
        space = self._space
        if not isinstance(space, _FamilySpace):
            return {"source": "fallback", "params": {}}
        families = list(space.context.families)
        # The objective's own distribution of ``family``, for the fallback to model it.
        choices = next((t.distributions["family"] for t in reversed(past)
                        if "family" in t.distributions), CategoricalDistribution(families))
        for _ in range(1 if self._costs is None else _EXPLORATION_DRAWS):
            family = self._fallback.sample_independent(study, trial, "family", choices)
            if family not in families:
                continue
            params: dict = {}
            for p in get_family(family).params(space.task):
                if p.is_active(params):
                    params[p.name] = self._fallback.sample_independent(
                        study, trial, f"{family}__{p.name}", p.distribution)
            if affordable([trial_params(family, params)])[0]:
                return {"source": "fallback", "params": trial_params(family, params)}
        return None

    def _affordability(self, past: Sequence[FrozenTrial]):
        """A function telling which of a list of trial parameters fit in the time left
        (all of them without ``time_left``, or before any trial has finished), and with
        ``with_seconds=True`` also their predicted seconds (0 when not predicted)."""
        scale = None if self._costs is None else self._costs.calibrate(past)
        limit = None if scale is None else AFFORDABLE_SHARE * max(float(self._time_left()), 0.0)

        def affordable(params: list, with_seconds: bool = False):
            if scale is None:
                ok, seconds = np.ones(len(params), dtype=bool), np.zeros(len(params))
            else:
                seconds = self._costs.seconds(params, scale)
                ok = seconds <= limit
            return (ok, seconds) if with_seconds else ok

        return affordable

    def _zero_shot_portfolio(self) -> list[dict]:
        if self._portfolio is None:
            portfolio = self._space.portfolio(self._learner, self._n_startup,
                                              int(self._seed) % (2**32))
            if self._costs is not None and portfolio:
                # Under a time budget nothing tells how fast this dataset is before a
                # trial has finished: the cheapest start goes first, to finish soon and
                # calibrate the cost model that screens the others.
                costs = [self._costs.relative(*config_from_params(p)) for p in portfolio]
                portfolio.insert(0, portfolio.pop(int(np.argmin(costs))))
            self._portfolio = portfolio
        return self._portfolio


#: Random configurations an exploration trial draws to find an affordable one.
_EXPLORATION_DRAWS = 16


def _log_cost(seconds: np.ndarray) -> np.ndarray:
    """Log predicted seconds relative to their median, 0 where not predicted (0 s)."""
    known = seconds > 0
    if not known.any():
        return np.zeros(len(seconds))
    logs = np.log(seconds, where=known, out=np.zeros(len(seconds)))
    return np.where(known, logs - np.median(logs[known]), 0.0)


def _beyond(kb, scores: pd.DataFrame, rows, features) -> bool:
    """Whether the study's data (``rows`` x ``features``) lies beyond all the knowledge
    base's timed samples (``scores``) in both columns and cells (rows x columns). The cost
    model carries the knowledge base's relative costs to more rows by growth rates
    measured on its larger samples, but it has nothing on more columns, where a tree
    model's time grows much faster than a linear model's (docs/optuna.md, "Wide data")."""
    table = kb.metafeatures
    if rows is None or features is None or "n_features" not in table or scores.empty:
        return False
    width = scores["dataset"].map(table.set_index("dataset")["n_features"])
    cells = scores["rows"] * width
    if not (width.notna().any() and cells.notna().any()):
        return False
    return bool(float(features) > width.max() and float(rows) * float(features) > cells.max())


class _Costs:
    """How long a configuration takes on the study's data, for searches under a budget.

    From the knowledge base: per family, a linear model of log seconds, fitting and
    predicting (centred per dataset and sample size, so that it says which configurations
    are slow relative to others), on the configuration's encoding. From the study: each
    finished trial's duration against that prediction gives a per-family log offset,
    which carries the prediction to this dataset's size. A family not tried yet takes
    the tried families' offsets, corrected by how much faster its time grows with the
    rows (:meth:`shift`; the attribute ``growth``, the slope of log seconds over log rows
    measured on the knowledge base's larger samples: on 14,000 rows an SVM is 10-20 times
    slower, relative to a forest, than on the knowledge base's 1,000).
    """

    def __init__(self, space: _FamilySpace):
        self.task = space.task
        self.families = list(space.context.families)
        kb = space.context.knowledge_base
        timed = kb.scores()
        timed = timed[(timed["status"] == "ok") & (timed["fit_seconds"] > 0)]
        scores = timed[timed["task"] == self.task]
        # A trial's time: fitting and predicting its validation rows (k-NN's is mostly
        # predicting, and grows faster with the rows than its fitting).
        scores = scores.assign(seconds=scores["fit_seconds"]
                               + scores["predict_seconds"].fillna(0.0))
        self.growth = self._growth(scores)
        rows = space.rows if space.rows is not None else space.metafeatures.get("n_instances")
        #: Whether the study's data is wider and larger than any timed sample of either task.
        self.beyond = _beyond(kb, timed, rows, space.metafeatures.get("n_features"))
        known_rows = scores["rows"].dropna()  # none in knowledge bases without row counts
        reference = known_rows.median() if len(known_rows) else np.nan
        #: log of the study's rows over the knowledge base's typical rows (0: unknown).
        self.log_size = (math.log(float(rows) / float(reference))
                         if rows is not None and np.isfinite(float(rows)) and float(rows) > 0
                         and np.isfinite(reference) and reference > 0 else 0.0)
        log_seconds = np.log(scores["seconds"].to_numpy(dtype=float))
        centred = log_seconds - pd.Series(log_seconds).groupby(
            [scores["dataset"].to_numpy(), scores["max_rows"].to_numpy()],
            dropna=False).transform("mean").to_numpy()
        table = pd.DataFrame({"family": scores["family"].to_numpy(),
                              "params": scores["params"].to_numpy(), "cost": centred})
        self.weights: dict[str, np.ndarray] = {}
        self._relative: dict[tuple, float] = {}
        self._configs: dict[tuple, tuple[str, float] | None] = {}  # of finished trials
        for family, rows in table.groupby("family"):
            if family not in self.families:
                continue
            by_config = rows.groupby("params")["cost"].mean()
            design = self._design(family, [json.loads(p) for p in by_config.index])
            # A little ridge: 24 design points, up to a dozen columns.
            penalty = 1e-2 * np.eye(design.shape[1])
            penalty[0, 0] = 0.0
            self.weights[family] = np.linalg.solve(design.T @ design + penalty,
                                                   design.T @ by_config.to_numpy())

    @staticmethod
    def _growth(scores: pd.DataFrame) -> dict[str, float]:
        """Per family, the median exponent of seconds against rows: the slope of log
        seconds over log rows of each configuration run on one dataset at two sample sizes
        (the knowledge base's larger-sample extension); empty without such pairs."""
        runs = scores.dropna(subset=["rows", "max_rows"]).groupby(
            ["dataset", "family", "config_id", "max_rows"], as_index=False).agg(
            seconds=("seconds", "mean"), rows=("rows", "first"))
        ends = runs.sort_values("rows").groupby(["dataset", "family", "config_id"]).agg(
            low_rows=("rows", "first"), high_rows=("rows", "last"),
            low=("seconds", "first"), high=("seconds", "last"))
        ends = ends[ends["high_rows"] > ends["low_rows"]]
        slopes = (np.log(ends["high"] / ends["low"])
                  / np.log(ends["high_rows"] / ends["low_rows"]))
        return {family: float(v) for family, v in slopes.groupby(level="family").median()
                .items()}

    def _design(self, family: str, params: list[dict]) -> np.ndarray:
        from automl_meta.spaces import encode

        return np.array([[1.0, *encode(family, self.task, p)] for p in params])

    def relative(self, family: str, params: dict) -> float:
        """Log seconds relative to a typical configuration (0 for an unknown family)."""
        key = (family, _key(params))
        if key not in self._relative:
            weights = self.weights.get(family)
            self._relative[key] = 0.0 if weights is None else float(
                self._design(family, [params])[0] @ weights)
        return self._relative[key]

    def calibrate(self, past: Sequence[FrozenTrial]) -> dict[str | None, float] | None:
        """Per-family log offsets (key None: all families) from the finished trials'
        durations; None before any trial has finished.

        A family not tried yet takes the offsets of the trials that were not probes
        (while there are any): a probe's trial is so short that the study's fixed cost
        per trial dominates it, and carried to a slower family's configurations its
        offset would predict them several times too slow."""
        offsets: dict[str, list[float]] = {}
        transfer: dict[str, list[float]] = {}
        for t in past:
            seconds = trial_seconds(t)
            if seconds is None or seconds <= 0:
                continue
            # A finished trial's configuration is read once, not at every later trial.
            finished = _finished_key(t)
            if finished not in self._configs:
                config = config_from_params(t.params)
                self._configs[finished] = (None if config is None
                                           else (config[0], self.relative(*config)))
            if self._configs[finished] is None:
                continue
            family, relative = self._configs[finished]
            offset = math.log(seconds) - relative
            offsets.setdefault(family, []).append(offset)
            if t.system_attrs.get(_CONFIG_ATTR, {}).get("source") != "probe":
                transfer.setdefault(family, []).append(offset)
        if not offsets:
            return None
        transfer = transfer or offsets
        scale: dict[str | None, float] = {f: float(np.mean(v)) for f, v in offsets.items()}
        scale[None] = float(np.mean([x for v in transfer.values() for x in v]))
        for family in self.families:
            if family not in scale and family in self.growth:
                known = [f for f in transfer if f in self.growth]
                if known:
                    scale[family] = float(np.mean([np.mean(transfer[f])
                                                   + self.shift(family, f) for f in known]))
        return scale

    def shift(self, family: str, tried: str) -> float:
        """How much the study's rows add to the log seconds of ``family`` relative to
        those of ``tried`` (families with a measured ``growth``): the difference of their
        slopes times the log of the study's rows over the knowledge base's typical rows."""
        return (self.growth[family] - self.growth[tried]) * self.log_size

    def seconds(self, params: Sequence[Mapping], scale: dict) -> np.ndarray:
        """Predicted seconds of each trial's parameters (0 when not a built-in family)."""
        out = np.zeros(len(params))
        for i, p in enumerate(params):
            config = config_from_params(p)
            if config is not None:
                out[i] = math.exp(scale.get(config[0], scale[None]) + self.relative(*config))
        return out


def warm_start_study(study: optuna.Study, X, y, n_configs: int = 10, *,
                     recommendation=None, **recommend_kwargs) -> list[dict]:
    """Enqueue the recommended configurations of a dataset into any Optuna study.

    Each is enqueued as :func:`trial_params` with ``user_attrs`` ``automl_meta:source``
    (``"warm_start"``), ``automl_meta:rank``, ``automl_meta:predicted_score`` and
    ``automl_meta:origin`` (the recommendation's ``source``: ``meta-learner``,
    ``portfolio`` or ``both``);
    configurations already in the study (run or enqueued) are skipped, so calling it
    again, or from another worker, adds nothing twice.

    Parameters
    ----------
    study : optuna.Study
        In memory or on any storage (SQLite, PostgreSQL, ...).
    X, y : the dataset
    n_configs : int, default 10
    recommendation : Recommendation or None
        Use this one instead of calling :func:`~automl_meta.recommendation.recommend`.
    **recommend_kwargs
        Passed to :func:`~automl_meta.recommendation.recommend`.

    Returns
    -------
    list of dict
        The trial parameters enqueued now.
    """
    from automl_meta.recommendation import recommend

    if not isinstance(study, optuna.Study):
        raise DataValidationError(f"study must be an optuna.Study, got {type(study).__name__}")
    if recommendation is None:
        recommendation = recommend(X, y, k=n_configs, **recommend_kwargs)
    existing = {_key(t.params) for t in study.get_trials(deepcopy=False) if t.params}
    existing |= {_key(t.system_attrs.get("fixed_params", {}))
                 for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))}
    added = []
    for rank, (params, row) in enumerate(zip(recommendation.trial_params(),
                                             recommendation.configurations.itertuples(),
                                             strict=True), 1):
        if _key(params) in existing:
            continue
        study.enqueue_trial(params, user_attrs={
            f"{ATTR}:source": "warm_start", f"{ATTR}:rank": rank,
            f"{ATTR}:predicted_score": float(row.predicted_score),
            f"{ATTR}:origin": row.source}, skip_if_exists=True)
        existing.add(_key(params))
        added.append(params)
    return added


def open_storage(storage):
    """An Optuna storage URL opened as an ``RDBStorage`` (other values are returned as
    they are), with a :class:`DataSourceError` that names the URL when it cannot be
    opened (unknown database kind, no such folder, unreachable server) instead of
    SQLAlchemy's own errors."""
    if not isinstance(storage, str):
        return storage
    try:
        return optuna.storages.RDBStorage(storage)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy and database drivers raise many types
        reason = str(exc).splitlines()[0] if str(exc) else ""
        raise DataSourceError(f"cannot open the Optuna storage {storage!r}: "
                              f"{type(exc).__name__}: {reason}") from exc


def studies_knowledge_base(storage, study_names: Sequence[str],
                           metafeatures: pd.DataFrame | None = None):
    """A knowledge base of one custom family from past studies' completed trials."""
    from automl_meta.metadataset.knowledge_base import KnowledgeBase

    if isinstance(study_names, str) or not len(study_names):
        raise DataValidationError("study_names must be a non-empty list of study names")
    opened = open_storage(storage)
    rows, distributions = [], {}
    for name in study_names:
        try:
            study = optuna.load_study(study_name=name, storage=opened)
        except KeyError as exc:
            raise KnowledgeBaseError(f"no study named {name!r} in {storage!r}") from exc
        if len(study.directions) != 1:
            raise DataValidationError(f"study {name!r} is multi-objective; only "
                                      "single-objective studies can be learned from")
        sign = 1.0 if study.direction == StudyDirection.MINIMIZE else -1.0
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if t.value is None or not math.isfinite(t.value) or not t.params:
                continue
            rows.append({"task": name, "params": dict(t.params), "loss": sign * t.value})
            for param, dist in t.distributions.items():
                distributions[param] = _merge(distributions.get(param), dist)
    if not rows:
        raise KnowledgeBaseError(f"the studies {list(study_names)} have no completed trial")
    return KnowledgeBase.from_frame(pd.DataFrame(rows), "task", "loss", "params",
                                    metafeatures, maximize=False,
                                    distributions=distributions)


# ---------------------------------------------------------------------------------------
# The two kinds of search space a sampler can work in


class _Space:
    """What the sampler needs of a search space. A configuration (``config``) is
    ``(family, params)`` for the built-in families and a dict of parameters for a custom
    space; the candidate pool (design + random sample) is drawn and encoded once."""

    task = "classification"
    metafeatures: pd.Series
    rows: float | None = None

    def parse(self, params: Mapping):
        raise NotImplementedError

    def to_params(self, config) -> dict:
        raise NotImplementedError

    def family_of(self, config) -> str:
        raise NotImplementedError

    def params_of(self, config) -> dict:
        raise NotImplementedError

    def random(self, rng: np.random.Generator) -> dict:
        raise NotImplementedError

    def base(self, n: int, rng: np.random.Generator) -> list:
        raise NotImplementedError

    def usable(self, learner, config) -> dict | None:
        """The configuration's parameters checked against its space, or None."""
        return self.params_of(config)

    def embedding(self, learner) -> np.ndarray:
        """The task embedding (the same for the learner and its adapted copies)."""
        if getattr(self, "_embedded", None) is None:
            self._embedded = learner.embed(self.metafeatures, self.task, self.rows)
        return self._embedded

    def encode(self, learner, configs: list) -> tuple[np.ndarray, np.ndarray]:
        return learner._encode([self.family_of(c) for c in configs],
                               [self.params_of(c) for c in configs], self.task)

    def pool(self, learner, n: int, seed: int):
        """(configs, keys, family indices, hyperparameter vectors), built once."""
        if getattr(self, "_pool", None) is None:
            configs = self.base(n, np.random.default_rng(seed))
            self._pool = (configs, [_key(self.to_params(c)) for c in configs],
                          *self.encode(learner, configs))
        return self._pool

    def adapt(self, learner, observed: list):
        """``learner`` adapted to the observed (config, loss) pairs it can encode."""
        cache = self.__dict__.setdefault("_observed", {})
        rows, losses = [], []
        for config, loss in observed:
            key = _key(self.to_params(config))
            if key not in cache:
                params = self.usable(learner, config)
                try:
                    cache[key] = (None if params is None
                                  else self.encode(learner, [self._with(config, params)]))
                except InvalidParamsError:  # outside the space the learner knows
                    cache[key] = None
            if cache[key] is not None:
                rows.append(cache[key])
                losses.append(loss)
        if len(set(losses)) < 2:
            return learner
        return learner._adapt_encoded(self.embedding(learner),
                                      np.concatenate([r[0] for r in rows]),
                                      np.concatenate([r[1] for r in rows]),
                                      np.asarray(losses, dtype=float))

    def _with(self, config, params: dict):
        return config


class _FamilySpace(_Space):
    """The built-in families, with the study's dataset embedded by its meta-features."""

    def __init__(self, context):
        self.context = context
        self.task = context.task
        self.metafeatures = context.metafeatures
        self.rows = context.rows

    def parse(self, params: Mapping):
        return config_from_params(params)

    def to_params(self, config) -> dict:
        return trial_params(*config)

    def family_of(self, config) -> str:
        return config[0]

    def params_of(self, config) -> dict:
        return config[1]

    def random(self, rng: np.random.Generator) -> dict:
        family = self.context.families[int(rng.integers(len(self.context.families)))]
        dim = len(get_family(family).params(self.task))
        return trial_params(family, from_unit(family, self.task, rng.random(dim)))

    def portfolio(self, learner, n: int, seed: int) -> list[dict]:
        from automl_meta.recommendation import Context

        context = Context(self.task, self.metafeatures, learner,
                          self.context.knowledge_base, self.context.families, self.rows)
        return context.recommendation(max(n, 1), 0, seed).trial_params()[:n]

    def base(self, n: int, rng: np.random.Generator) -> list:
        out = list(self.context.candidates(0, 0))
        for family in self.context.families:
            dim = len(get_family(family).params(self.task))
            out += [(family, from_unit(family, self.task, u)) for u in rng.random((n, dim))]
        return out

    def usable(self, learner, config) -> dict | None:
        family, params = config
        if family not in learner.families_:
            return None
        try:  # a user's objective may use our names with other ranges
            return validate_params(family, self.task, params)
        except InvalidParamsError:
            return None

    def _with(self, config, params: dict):
        return (config[0], params)


class _CustomSpace(_Space):
    """A custom search space learned from past studies; trial parameters are its own."""

    def __init__(self, learner, family: str, metafeatures: pd.Series, knowledge_base):
        self.family = family
        self.space = learner.custom_spaces_[family]
        self.metafeatures = metafeatures
        self.design = []
        if knowledge_base is not None:
            rows = knowledge_base.configurations
            self.design = [json.loads(p) for p in rows.loc[rows["family"] == family, "params"]]

    def parse(self, params: Mapping):
        return {k: v for k, v in params.items() if k in self.space} or None

    def to_params(self, config) -> dict:
        return dict(config)

    def family_of(self, config) -> str:
        return self.family

    def params_of(self, config) -> dict:
        return config

    def random(self, rng: np.random.Generator) -> dict:
        return self._from_unit(rng.random(len(self.space)))

    def _from_unit(self, u: np.ndarray) -> dict:
        return {name: value_from_unit(self.space[name], x)
                for name, x in zip(sorted(self.space), u, strict=True)}

    def portfolio(self, learner, n: int, seed: int) -> list[dict]:
        from automl_meta.metalearner._encoding import encode_custom
        from automl_meta.recommendation import diverse_top

        rng = np.random.default_rng(seed)
        candidates = self.base(256, rng)
        mean, _ = learner._predict_encoded(self.embedding(learner),
                                           *self.encode(learner, candidates))
        picks = diverse_top([(self.family, c) for c in candidates], mean, n,
                            lambda _, params: encode_custom(self.space, params))
        return [candidates[i] for i in picks]

    def base(self, n: int, rng: np.random.Generator) -> list:
        return [dict(c) for c in self.design] + [self.random(rng) for _ in range(n)]


def _space_of(learner, task, X, y, metafeatures, knowledge_base, families, rows):
    if learner.custom_spaces_:
        if len(learner.custom_spaces_) != 1:
            raise KnowledgeBaseError("a sampler works in one custom search space; this "
                                     f"learner knows {sorted(learner.custom_spaces_)}")
        family = next(iter(learner.custom_spaces_))
        features = metafeatures if metafeatures is not None else pd.Series(dtype=float)
        return _CustomSpace(learner, family, features, knowledge_base)
    from automl_meta.data import make_dataset
    from automl_meta.recommendation import Context

    if metafeatures is None:
        if X is None or y is None:
            raise DataValidationError("MetaLearnedSampler needs the dataset (X and y) or its "
                                      "metafeatures to embed it")
        from automl_meta.metafeatures import MetaFeatureExtractor

        dataset = make_dataset(X, y, task=task)
        task = dataset.task
        metafeatures = MetaFeatureExtractor().extract(dataset.X, dataset.y, task=task)
    elif task is None:
        if y is None:
            raise DataValidationError("pass task= (or y) along with metafeatures")
        task = make_dataset(pd.DataFrame({"x": np.zeros(len(y))}), y).task
    return _FamilySpace(Context.create(task, metafeatures, learner, knowledge_base, families,
                                       rows))


def _merge(old: BaseDistribution | None, new: BaseDistribution) -> BaseDistribution:
    """One distribution covering a parameter seen with ``old`` and ``new``."""
    if old is None or old == new:
        return new
    if isinstance(old, CategoricalDistribution) or isinstance(new, CategoricalDistribution):
        if isinstance(old, CategoricalDistribution) and isinstance(new, CategoricalDistribution):
            return CategoricalDistribution([*old.choices,
                                            *(c for c in new.choices if c not in old.choices)])
        return old
    if type(old) is not type(new) or old.log != new.log:
        return old
    return type(old)(min(old.low, new.low), max(old.high, new.high), log=old.log)


def _claimed_earlier(study: optuna.Study, trial: FrozenTrial, params: Mapping) -> bool:
    """Whether a lower-numbered trial (another worker's, chosen at the same moment) has
    claimed the same configuration; the lower number keeps it."""
    key = _key(params)
    return any(t.number < trial.number and _CONFIG_ATTR in t.system_attrs
               and _key(t.system_attrs[_CONFIG_ATTR]["params"]) == key
               for t in study._storage.get_all_trials(study._study_id, deepcopy=False))


def _finished_key(trial: FrozenTrial) -> tuple:
    """A finished trial's identity in the memos of what the sampler reads of it: its id
    and number, and when it started and ended (a sampler reused for another study may
    meet the same ids and numbers there)."""
    return trial._trial_id, trial.number, trial.datetime_start, trial.datetime_complete


def _key(params: Mapping) -> tuple | str:
    """A configuration's identity: equal for equal names, types and values. A tuple for
    plain values (the sampler takes a key of every trial at every trial, and a tuple is
    several times quicker to make than JSON), JSON for anything else."""
    items = []
    for name, value in params.items():
        if isinstance(value, np.generic):
            value = value.item()
        if type(value) not in _PLAIN:
            return json.dumps({k: (v.item() if isinstance(v, np.generic) else v)
                               for k, v in params.items()}, sort_keys=True, default=str)
        items.append((name, type(value), "nan" if value != value else value))
    return tuple(sorted(items))


_PLAIN = frozenset((str, int, float, bool, type(None)))
