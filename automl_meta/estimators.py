"""scikit-learn estimators that search model families and their hyperparameters with Optuna.

:class:`AutoMetaClassifier` and :class:`AutoMetaRegressor` cross-validate configurations
of the model families of :mod:`automl_meta.spaces` in an Optuna study, starting from each
family's default configuration, under a wall-clock ``time_budget`` and/or a number of
trials; then they refit the best pipeline, or a greedy ensemble of the best pipelines, on
all the data.

Fitted estimators pickle (``joblib.dump``/``joblib.load``). Loading a model file runs
pickled code: load only model files from a source you trust.

Example
-------
>>> from sklearn.datasets import load_iris
>>> from automl_meta.estimators import AutoMetaClassifier
>>> X, y = load_iris(return_X_y=True, as_frame=True)
>>> model = AutoMetaClassifier(time_budget=30, families=["linear", "knn"], cv=3)
>>> model.fit(X, y).best_params_["family"]  # doctest: +SKIP
'linear'
>>> model.leaderboard_[["rank", "family", "score", "status"]].head(2)  # doctest: +SKIP
   rank  family     score status
0     1  linear  0.997333     ok
1     2     knn  0.995333     ok
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import math
import numbers
import os
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import optuna
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
from threadpoolctl import threadpool_limits

from automl_meta.data import (
    Dataset,
    Schema,
    check_finite_range,
    check_target_complete,
    column_names,
    is_plain_numeric,
    make_dataset,
    numeric_values,
    subsample_index,
    text_categories,
)
from automl_meta.evaluation import (
    CV,
    Metric,
    aligned_proba,
    check_metric_weighs_rows,
    check_sample_weight,
    check_split_weights,
    checked_groups,
    evaluate,
    get_metric,
    is_given_splits,
    is_splitter,
    make_folds,
    prestart_worker,
    trained_sizes,
)
from automl_meta.exceptions import AutoMetaError, DataValidationError
from automl_meta.metadataset.store import pid_alive
from automl_meta.sampler import (
    MetaLearnedSampler,
    config_from_params,
    open_storage,
    trial_params,
)
from automl_meta.spaces import (
    FAMILIES,
    build_pipeline,
    default_params,
    fit_pipeline,
    get_family,
    suggest,
)

LEADERBOARD_COLUMNS = (
    "rank", "trial", "family", "params", "score", "std", "fit_seconds", "status", "error",
)


class SearchFailedError(AutoMetaError, RuntimeError):
    """Every trial of a search failed, so there is no model to refit."""


class _AutoMetaSearch(BaseEstimator):
    """Shared search, refit and input checks; subclasses set ``_task``."""

    _task: str

    def __init__(
        self,
        time_budget: float | None = 60,
        n_trials: int | None = None,
        metric: str | Metric | None = None,
        cv: CV | str = "auto",
        n_jobs: int = 1,
        ensemble_size: int = 10,
        families: Sequence[str] | None = None,
        random_state: int | np.random.RandomState | None = None,
        storage: str | optuna.storages.BaseStorage | None = None,
        study_name: str | None = None,
        sampler: optuna.samplers.BaseSampler | None = None,
        knowledge_base=None,
        verbose: int = 0,
        search_rows: int | str | None = "auto",
    ):
        self.time_budget = time_budget
        self.n_trials = n_trials
        self.metric = metric
        self.cv = cv
        self.n_jobs = n_jobs
        self.ensemble_size = ensemble_size
        self.families = families
        self.random_state = random_state
        self.storage = storage
        self.study_name = study_name
        self.sampler = sampler
        self.knowledge_base = knowledge_base
        self.verbose = verbose
        self.search_rows = search_rows

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        # A wall-clock budget or parallel trials make the set of trials depend on timing.
        tags.non_deterministic = self.n_trials is None or self.n_jobs != 1
        return tags

    def fit(self, X, y, *, sample_weight=None, groups=None,
            callbacks: Sequence[Callable] | None = None):
        """Search configurations by cross-validation, then refit the best (or an ensemble
        of the best) on all data.

        A first Ctrl-C stops the search once the trials in progress end, and ``fit`` goes
        on with the trials finished (with a warning); a second one interrupts at once.

        Parameters
        ----------
        X : DataFrame or array of shape (n_samples, n_features)
            Numeric, categorical and string columns; missing values allowed.
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), optional
            A weight per row (not negative; survey weights, costs, duplicates counted
            once...). Each trial's model trains on the weighted rows and its metric weighs
            the validation rows, so the search optimises the weighted score; ensembling
            and the refits use them too. Preprocessing, the folds and the meta-features
            are unweighted. k-NN cannot weigh rows: it is left out of the default
            ``families`` and refused when named.
        groups : array-like of shape (n_samples,), optional
            A group label per row (a patient, a site, a user...): the rows of a group are
            never split between training and validation, so that the scores say how
            the model does on new groups. With an integer ``cv`` (or ``"auto"``) the
            folds are group folds and a holdout holds out that share of the groups,
            both stratified for classification (see
            :func:`~automl_meta.evaluation.make_folds`); a splitter given as ``cv``
            receives them.
        callbacks : list of callables ``f(study, frozen_trial)``, optional
            Called after each trial (Optuna's ``study.optimize`` callbacks), e.g. to
            show progress.

        Returns
        -------
        self
        """
        start = time.monotonic()
        families, metric = self._check_params()
        dataset = self._check_data(X, y)
        if self.time_budget is not None and self.n_jobs == 1:
            # Trials under a budget run in a worker process (:func:`evaluate`): it starts
            # now, beside the meta-features, not in the first trial's time.
            prestart_worker()
        weights = None
        if sample_weight is not None:
            weights = self._check_weights(sample_weight, dataset)
            check_metric_weighs_rows(metric)
            if self.families is None:
                families = [f for f in families if get_family(f).weighs_rows]
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        # The trials' rows: all, or a subsample (the same for a seed) on data too large to
        # search within the budget; the refits use every row.
        search, search_weights = dataset, weights
        cap = _search_rows(self.search_rows, dataset, self.time_budget, self.cv)
        if cap is not None:
            if groups is not None:
                groups = checked_groups(groups, dataset.n_rows)
            rows = subsample_index(dataset.y, dataset.task, cap, seed)
            search = dataclasses.replace(dataset, X=dataset.X.iloc[rows].reset_index(drop=True),
                                         y=dataset.y.iloc[rows].reset_index(drop=True))
            search_weights = None if weights is None else weights[rows]
            groups = None if groups is None else groups[rows]
        self.search_rows_ = search.n_rows
        self.cv_ = _resolve_cv(self.cv, search, self.time_budget)
        # Made once, so that every trial (and a splitter that shuffles without a seed)
        # validates on the same rows; an impossible cv fails here, not in every trial.
        folds = make_folds(search, self.cv_, seed, groups)
        if metric.name == "roc_auc":
            if self.cv == "auto":
                self.cv_, folds = _folds_validating_two_classes(self.cv_, folds, search,
                                                                seed, groups)
            _check_validation_classes(folds, search.y, self.cv_)
        if search_weights is not None:
            check_split_weights(folds, search_weights, families)
        oof = _OutOfFold() if self.ensemble_size > 1 else None
        members = min(self.ensemble_size, ENSEMBLE_REFIT_RESERVE)
        # Under a budget, a trial on all rows whose refit could not end in time (past the
        # slack _deliverable allows) keeps its fold models, delivered averaged instead.
        fold_models = (_BestTrials(members) if self.time_budget is not None and cap is None
                       else None)
        # In sizes of all rows, which a refit trains on (a subsample's trials train on less).
        budget = _Budget(None if self.time_budget is None else start + self.time_budget,
                         self.time_budget, trained_sizes(folds, dataset.n_rows),
                         members,
                         None if oof is None else oof.blender(search, metric, search_weights),
                         fold_models)
        objective = _Objective(search, tuple(families), metric, folds, seed, budget, oof,
                               search_weights, fold_models)
        with _optuna_verbosity(self.verbose):
            study = self._open_study(dataset, metric, weights is not None)
            # Seeded as in an earlier run, the sampler of a resumed study would propose
            # again the configurations that run began with.
            study.sampler = self._sampler(dataset, families,
                                          seed + len(study.get_trials(deepcopy=False)),
                                          None if budget.deadline is None else budget.remaining,
                                          None if cap is None else search.n_rows)
            if not isinstance(study.sampler, MetaLearnedSampler):
                for family in families:
                    _enqueue_default(study, family, dataset.task)
            # One thread per trial, n_jobs trials at once, as in the evaluation workers: a
            # trial run in this process (no time budget) with every core crawls on a busy
            # machine. BLAS limits are global, OpenMP's are set by each trial (_Objective).
            with threadpool_limits(limits=1), _first_interrupt_stops(study, budget):
                study.optimize(
                    objective,
                    n_trials=self.n_trials,
                    timeout=None if budget.deadline is None else max(budget.remaining(), 0.0),
                    n_jobs=self.n_jobs,
                    callbacks=[budget, *(callbacks or ())],
                )
        if isinstance(study.sampler, MetaLearnedSampler):
            # It holds the knowledge base (megabytes): not worth keeping in every saved
            # model. The trials record where each configuration came from.
            study.sampler = optuna.samplers.TPESampler(seed=seed)
        leaderboard = _leaderboard(study.trials, metric)
        if leaderboard.empty or leaderboard["status"].iloc[0] != "ok":
            if budget.interrupted:  # nothing to go on with: stop as asked
                raise KeyboardInterrupt
            raise SearchFailedError(_failure_message(leaderboard))
        if budget.interrupted:
            warnings.warn(f"the search was interrupted; fit goes on with the {len(leaderboard)} "
                          f"trials finished", UserWarning, stacklevel=3)
        refit_seconds = dict(zip(leaderboard["trial"].astype(int),
                                 leaderboard["fit_seconds"] / budget.trained_sizes, strict=True))
        bags = {} if fold_models is None else dict(fold_models)
        refit_seconds.update(dict.fromkeys(bags, 0.0))  # delivered as they are
        refit_time = budget.refit_time()
        deliverable = _deliverable(leaderboard, refit_seconds, refit_time, self.time_budget)
        best = deliverable.iloc[0]
        self.best_params_ = {"family": best["family"], **best["params"]}
        self.best_score_ = float(best["score"])
        self.leaderboard_ = leaderboard
        self.study_ = study
        self._columns = list(dataset.X.columns)
        self._schema = dataset.schema
        self._categories = {c: frozenset(dataset.X[c].cat.categories)
                            for c in dataset.schema.categorical}
        members = {int(best["trial"]): 1}
        self.ensemble_score_ = self.best_score_
        if self.ensemble_size > 1:
            members, self.ensemble_score_ = _caruana(
                deliverable, objective.oof, search, metric, self.ensemble_size,
                refit_seconds, refit_time, search_weights)
        rows = leaderboard.set_index("trial").loc[list(members)]
        self.ensemble_ = pd.DataFrame({
            "trial": list(members), "family": rows["family"].to_numpy(),
            "weight": np.asarray(list(members.values())) / sum(members.values()),
            "score": rows["score"].to_numpy(), "refit": [t not in bags for t in members]})
        fitted = [self._refit(row.family, row.params, dataset, seed, weights)
                  if row.Index not in bags else WeightedEnsemble.average(bags[row.Index],
                                                                         dataset.task)
                  for row in rows.itertuples()]
        self.best_estimator_ = (fitted[0] if len(fitted) == 1 else WeightedEnsemble(
            fitted, self.ensemble_["weight"].to_numpy(), dataset.task))
        return self

    def _check_params(self) -> tuple[list[str], Metric]:
        budget, trials = self.time_budget, self.n_trials
        if budget is not None and not (_is_real(budget) and budget > 0):
            raise DataValidationError(f"time_budget must be a positive number of seconds or "
                                      f"None, got {budget!r}")
        if trials is not None and not (_is_int(trials) and trials >= 1):
            raise DataValidationError(f"n_trials must be an integer >= 1 or None, got {trials!r}")
        if budget is None and trials is None:
            raise DataValidationError("set time_budget or n_trials, or the search never ends")
        if isinstance(self.cv, Iterator):
            raise DataValidationError("cv is an iterator, which one fit would use up and a "
                                      "saved model could not keep; pass list(cv)")
        if not (self.cv == "auto" if isinstance(self.cv, str) else
                (_is_int(self.cv) and self.cv >= 2) or (_is_real(self.cv) and 0 < self.cv < 1)
                or is_given_splits(self.cv)):
            raise DataValidationError(f"cv must be 'auto', an integer >= 2 (folds), a float "
                                      f"in (0, 1) (holdout share), a scikit-learn splitter or "
                                      f"an iterable of (train, validation) splits, got "
                                      f"{self.cv!r}")
        if not (_is_int(self.n_jobs) and (self.n_jobs >= 1 or self.n_jobs == -1)):
            raise DataValidationError(f"n_jobs must be an integer >= 1 or -1, got "
                                      f"{self.n_jobs!r}")
        if not (_is_int(self.ensemble_size) and self.ensemble_size >= 1):
            raise DataValidationError(f"ensemble_size must be an integer >= 1, got "
                                      f"{self.ensemble_size!r}")
        rows = self.search_rows
        if not (rows is None or (isinstance(rows, str) and rows == "auto")
                or (_is_int(rows) and rows >= 2)):
            raise DataValidationError(f"search_rows must be 'auto', an integer >= 2 or None, "
                                      f"got {rows!r}")
        if _is_int(rows) and is_given_splits(self.cv) and not is_splitter(self.cv):
            raise DataValidationError("search_rows: the splits given as cv are positions of "
                                      "all rows, which a subsample would not keep; pass "
                                      "search_rows=None or a splitter")
        if self.sampler is not None and not isinstance(self.sampler, optuna.samplers.BaseSampler):
            raise TypeError(f"sampler must be an optuna sampler, got {type(self.sampler)}")
        kb = self.knowledge_base
        if not (kb is None or kb is False or isinstance(kb, (str, os.PathLike))):
            raise DataValidationError("knowledge_base must be None (the shipped one), a "
                                      f"knowledge-base folder or False, got {kb!r}")
        return _check_families(self.families), get_metric(self.metric, self._task)

    def _check_data(self, X, y) -> Dataset:
        if y is not None:  # named here for arrays and both tasks, not as sklearn's "contains NaN"
            check_target_complete(y)
        if isinstance(X, pd.DataFrame):
            column_names(X.columns)  # sklearn's own check names no column
            validate_data(self, X, y, skip_check_array=True)  # sets feature_names_in_
            if not isinstance(y, (pd.Series, pd.DataFrame)):
                y = column_or_1d(y, warn=True)
        else:
            X, y = validate_data(self, X, y, dtype=None, ensure_all_finite="allow-nan")
        self._check_target(y)
        folds = AUTO_FOLDS if isinstance(self.cv, str) else self.cv
        if _is_int(folds) and len(X) < folds:
            raise DataValidationError(f"{len(X)} sample(s) cannot be split into cv={folds} "
                                      "folds; pass more rows or a smaller cv")
        return make_dataset(X, y, task=self._task)

    def _check_target(self, y) -> None:
        """Hook for task-specific checks of ``y`` before :func:`make_dataset`."""

    def _check_weights(self, sample_weight, dataset: Dataset) -> np.ndarray:
        weights = check_sample_weight(sample_weight, dataset.n_rows)
        if dataset.task == "classification":
            weighed = dataset.y[weights > 0].unique()
            if len(weighed) < 2:
                raise DataValidationError(
                    f"sample_weight leaves a single class with weight ({weighed[0]!r}); a "
                    "classifier needs two classes or more")
        return weights

    def _sampler(self, dataset: Dataset, families: list[str], seed: int,
                 time_left, rows: int | None) -> optuna.samplers.BaseSampler:
        """The sampler given, TPE when meta-learning is off, else a MetaLearnedSampler
        (meta-features of all of ``dataset``; ``rows``: those of the trials' subsample)."""
        self.metafeatures_ = None
        if self.sampler is not None:
            return self.sampler
        if self.knowledge_base is False:
            return optuna.samplers.TPESampler(seed=seed)
        from automl_meta.metadataset.knowledge_base import KnowledgeBase
        from automl_meta.metafeatures import MetaFeatureExtractor
        from automl_meta.metalearner import MetaLearner
        from automl_meta.recommendation import shipped_learner

        if self.knowledge_base is None:
            kb, learner = KnowledgeBase.load(), shipped_learner()
        else:
            kb = KnowledgeBase.load(self.knowledge_base)
            learner = MetaLearner.load(kb.path / "metalearner")
        self.metafeatures_ = MetaFeatureExtractor().extract(dataset.X, dataset.y,
                                                            task=dataset.task)
        return MetaLearnedSampler(metafeatures=self.metafeatures_, task=dataset.task,
                                  learner=learner, knowledge_base=kb, families=families,
                                  time_left=time_left, rows=rows, seed=seed)

    def _open_study(self, dataset: Dataset, metric: Metric, weighted: bool) -> optuna.Study:
        study = optuna.create_study(storage=open_storage(self.storage),
                                    study_name=self.study_name, direction="minimize",
                                    load_if_exists=True)
        # A shared or resumed study must be about the same problem, or its best trial
        # would be meaningless here.
        expected = {"task": dataset.task, "metric": metric.name,
                    "columns": [str(c) for c in dataset.X.columns], "weighted": weighted}
        for key, value in expected.items():
            found = study.user_attrs.get(key)
            if found is None:
                study.set_user_attr(key, value)
            elif found != value:
                raise DataValidationError(
                    f"study {study.study_name!r} was made for {key}={found!r}, not {value!r}; "
                    "use another study_name")
        _recover_interrupted(study)
        return study

    def _refit(self, family: str, params: dict, dataset: Dataset, seed: int,
               sample_weight: np.ndarray | None) -> Pipeline:
        pipeline = build_pipeline(family, params, dataset.schema, dataset.task, seed=seed,
                                  n_jobs=self.n_jobs)
        # Trials ran with one thread each (n_jobs of them at once): the refit gets n_jobs
        # threads, not every core. OpenMP's default on a busy machine (HistGradientBoosting
        # refit on 87k rows: 65 s instead of 2 s under load) would break the time budget.
        with threadpool_limits(limits=None if self.n_jobs < 0 else self.n_jobs):
            return fit_pipeline(pipeline, dataset.X, dataset.y, sample_weight)

    def _predict_frame(self, X) -> pd.DataFrame:
        """``X`` checked against the columns seen in ``fit`` and typed like them."""
        check_is_fitted(self)
        if isinstance(X, pd.DataFrame):
            if X.shape[0] == 0:
                raise DataValidationError("X has no rows to predict")
            # sklearn's check names the missing and the unexpected columns.
            validate_data(self, X, reset=False, skip_check_array=True)
            frame = X.set_axis(self._columns, axis=1)
        else:
            values = validate_data(self, X, reset=False, dtype=None, ensure_all_finite="allow-nan")
            frame = pd.DataFrame(values, columns=self._columns)
        frame = _conform(frame.reset_index(drop=True), self._schema)
        _warn_unseen_categories(frame, getattr(self, "_categories", {}))  # {}: older models
        return frame

    def predict(self, X) -> np.ndarray:
        """Predictions of the refit pipeline or ensemble for ``X`` (same columns as in fit).

        Categories not seen in fit are handled by the pipeline (as missing or ignored).
        """
        frame = self._predict_frame(X)
        return self.best_estimator_.predict(frame)


class AutoMetaClassifier(ClassifierMixin, _AutoMetaSearch):
    """AutoML classifier: an Optuna search over model families, refit on all data.

    Parameters
    ----------
    time_budget : float or None, default=60
        Wall-clock seconds for the whole fit: meta-features, search and the refits (the
        search keeps back the time those refits are estimated to take; a trial whose
        refit on all rows could not end in time, a twentieth of the budget past it
        included (the first on large data, say), keeps its fold models, which are
        delivered averaged instead, and no time is kept back for it; the first trial,
        which has nothing to fall back on, may run that twentieth past the deadline,
        and when its first folds show that it cannot end even then, it stops after them
        and is scored on them and delivered as their models, its leaderboard ``error``
        saying so). A trial still running when the search's time is spent is stopped
        (the evaluation runs in a worker process that is killed), so ``fit`` returns
        within a few seconds of the budget, an ensemble's refits included. Once a trial
        has finished, a trial whose first folds show that its whole cross-validation
        would take more than half the search's time left stops there (status
        ``timeout``), unless it would take at most a twentieth of the budget and fits in
        the time left: a configuration far slower than predicted costs part of a fold,
        not the budget (a fold is stopped as soon as its time so far shows it; a holdout
        trial, whose one fold is the whole trial, once it has run that long).
        None: no limit (then ``n_trials`` is required and trials run in this process).
    n_trials : int or None, default=None
        Number of trials to run. With meta-learning the first trials are the zero-shot
        portfolio (``n_trials=1``: the top recommendation); without, each family's
        default configuration comes first.
    metric : str, Metric or None, default=None
        Metric to optimise: a name (see :data:`automl_meta.evaluation.METRICS`;
        ``roc_auc`` by default) or a metric of your own from
        :func:`automl_meta.evaluation.make_metric` (``f1_score``, a business cost...).
        The search, ensemble selection and ``best_score_`` use it.
    cv : "auto", int, float, splitter or iterable, default="auto"
        How each trial is validated (splits stratified, shuffled with the seed): an
        integer is a number of cross-validation folds, a float in (0, 1) one holdout
        split validating on that share of the rows. ``"auto"``: 5 folds, or a holdout of
        10% when the data is too large to cross-validate within ``time_budget`` (FLAML's
        rule: rows x features above 10 million per hour of budget, or 100,000 rows or
        more; and only when the holdout keeps at least 1,000 rows), or 3 folds on data
        with too few rows for that holdout but more rows x features than
        :data:`SEARCH_CELLS_PER_SECOND` per second of budget (2,000 rows of 2,000
        columns under 60 s). ``cv_`` says which.
        With ROC AUC, ``"auto"`` takes fewer folds (down to 2, with a warning) where one
        would validate on a single class, as on binary data with a class of fewer rows
        than folds, and folds instead of a holdout that misses a class; with a given
        ``cv`` that fails before the search.
        Also, as in scikit-learn, a splitter (``GroupKFold(5)``, ``TimeSeriesSplit()``,
        ``RepeatedStratifiedKFold()``...) or an iterable of (train, validation) arrays of
        row positions, used as given. Rows that no split validates (the first block of
        ``TimeSeriesSplit``) are left out of the out-of-fold scores of ensembling; a row
        validated more than once counts with its last prediction.
    n_jobs : int, default=1
        Trials run in parallel (threads; each evaluation runs in its own worker process).
        -1: one per CPU.
    ensemble_size : int, default=10
        1: refit the best trial alone. More: greedy ensemble selection with replacement
        (Caruana et al., 2004) over the out-of-fold predictions of the best 20 trials, for
        up to ``ensemble_size`` rounds (the best round is kept); the selected pipelines
        are refit on all data after the search and averaged with their weights. Under a
        ``time_budget`` the search keeps back the time to refit its best trial and those
        of the next two best whose blend with it scores better out of fold, and
        selection adds a pipeline only while the estimated refits (from its trial's fit
        times) fit in the time left, or in the time kept back if the last trial ate into
        it.
    families : list of str or None, default=None
        Model families to search (:data:`automl_meta.spaces.FAMILIES`); all by default.
    random_state : int, RandomState or None, default=None
        Seeds the folds, the models and the default sampler.
    storage : str, optuna storage or None, default=None
        Optuna storage (e.g. ``"sqlite:///study.db"``) so that the study persists and
        several processes can share it; in memory by default.
    study_name : str or None, default=None
        Name of the study in ``storage``; an existing study of that name is resumed. Trials
        that killed processes of this host left running are then marked failed and their
        configurations run again (see ``docs/reliability.md``).
    sampler : optuna.samplers.BaseSampler or None, default=None
        Sampler to use instead of the meta-learned one (the family defaults are then
        enqueued first).
    knowledge_base : None, str or False, default=None
        Where meta-learning comes from: None, the shipped knowledge base and
        meta-learner; a knowledge-base folder with its ``metalearner/``; False, no
        meta-learning (TPE seeded with ``random_state``, family defaults first). With
        meta-learning, the dataset's meta-features are extracted within the time budget
        and a :class:`~automl_meta.sampler.MetaLearnedSampler` drives the search.
    verbose : int, default=0
        0: silent; 1 or more: Optuna's log line per trial.
    search_rows : "auto", int or None, default="auto"
        Rows the trials train and validate on. On data too large to search within the
        budget, trials on a subsample (stratified for classification, drawn with
        ``random_state``) run many times more configurations, and the configurations
        chosen are refit on all rows, whose time the search keeps back. ``"auto"``: under
        a ``time_budget``, :data:`SEARCH_CELLS_PER_SECOND` rows x features per second of
        budget and never fewer than :data:`MIN_SEARCH_ROWS` rows, when the data has at
        least :data:`SUBSAMPLE_AT` times as many (1 million rows of 21 features under
        60 s: 91,428 rows); else, without a budget or with splits given as ``cv``, all
        rows. An integer: at most that many rows. None: all rows.
        ``search_rows_`` says how many were used; ``cv="auto"`` decides on them.

    Attributes
    ----------
    best_params_ : dict
        ``{"family": name, **hyperparameters}`` of the best trial; under a
        ``time_budget``, of the best whose refit on all rows is estimated to fit in the
        time left (or in what the search kept back for refits) and a twentieth of the
        budget, or the quickest to refit if none would: the leaderboard's first unless
        trials on a subsample found configurations too slow to refit in time.
    best_score_ : float
        Its mean cross-validated (or holdout) score, in the metric's own units (on the
        ``search_rows_`` rows the trials used).
    search_rows_ : int
        The rows the trials used: all, or the subsample ``search_rows`` asked for.
    cv_ : int, float, splitter or iterable
        The folds (int) or holdout share (float) the trials used, ``cv`` resolved; a
        splitter or splits given as ``cv`` are kept as given.
    best_estimator_ : sklearn.pipeline.Pipeline or WeightedEnsemble
        The best configuration refit on all the data, or the weighted ensemble of the
        trials ``ensemble_`` lists when ensembling selected more than one. A trial whose
        refit could not end within ``time_budget`` is the even average of its
        cross-validation's fold models (a :class:`WeightedEnsemble`) instead, when the
        trials used every row.
    ensemble_ : DataFrame
        The delivered trials: ``trial``, ``family``, ``weight`` (summing to 1),
        ``score`` and ``refit`` (False: its fold models averaged, not refit); one row
        (weight 1) without ensembling.
    ensemble_score_ : float
        With ``ensemble_size`` > 1, the blend's score on the pooled out-of-fold
        predictions (the validation rows of a holdout); else ``best_score_``.
    leaderboard_ : DataFrame
        One row per finished trial, best first: ``rank`` (none for failed trials),
        ``trial``, ``family``, ``params``, ``score`` (mean over folds), ``std``,
        ``fit_seconds`` (summed over folds), ``status`` (``ok``, ``failed``, ``timeout``,
        ``memory``) and ``error``.
    study_ : optuna.Study
        The study; trials carry ``status``, ``error`` and ``fold_scores`` user attributes
        (and, with meta-learning, the ``automl_meta:config`` system attribute saying
        where the configuration came from). After fit its sampler is a TPESampler: the
        meta-learned one holds the knowledge base, too heavy to keep in saved models.
    classes_ : ndarray
        The class labels, in the order of ``predict_proba``'s columns.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    Example
    -------
    >>> from sklearn.datasets import load_breast_cancer
    >>> X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    >>> model = AutoMetaClassifier(n_trials=4, time_budget=60, families=["linear", "knn"],
    ...                            cv=3, random_state=0).fit(X, y)  # doctest: +SKIP
    >>> model.predict_proba(X.head(2)).shape  # doctest: +SKIP
    (2, 2)
    """

    _task = "classification"

    def _check_target(self, y) -> None:
        # sklearn's wording ("Unknown label type: continuous") for targets that are not classes.
        check_classification_targets(y)

    def fit(self, X, y, *, sample_weight=None, groups=None,
            callbacks: Sequence[Callable] | None = None) -> AutoMetaClassifier:
        super().fit(X, y, sample_weight=sample_weight, groups=groups, callbacks=callbacks)
        self.classes_ = np.unique(np.asarray(self.best_estimator_.classes_))
        return self

    fit.__doc__ = _AutoMetaSearch.fit.__doc__

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, one column per label of ``classes_``."""
        frame = self._predict_frame(X)
        return aligned_proba(self.best_estimator_, frame, self.classes_)


class AutoMetaRegressor(RegressorMixin, _AutoMetaSearch):
    """AutoML regressor: an Optuna search over model families, refit on all data.

    Parameters and attributes are those of :class:`AutoMetaClassifier` (without
    ``classes_`` and ``predict_proba``); the default metric is ``rmse``.

    Example
    -------
    >>> from sklearn.datasets import load_diabetes
    >>> X, y = load_diabetes(return_X_y=True, as_frame=True)
    >>> model = AutoMetaRegressor(time_budget=20, families=["linear", "knn"], cv=3)
    >>> model.fit(X, y).score(X, y)  # doctest: +SKIP
    0.51
    """

    _task = "regression"


# ---------------------------------------------------------------------------------------
# The search


#: ``cv="auto"``: folds when the budget allows them, else a holdout of this share.
AUTO_FOLDS = 5
HOLDOUT_SHARE = 0.1
#: FLAML's rule for its ``eval_method="auto"``: cross-validate while rows x features
#: stay under 10 million per hour of budget and rows under 100,000, else hold out.
CELLS_PER_HOUR = 10_000_000
HOLDOUT_ROWS = 100_000
#: ... and, ours, only when the holdout still validates on this many rows. On fewer rows,
#: data of more cells than the trials' allowance (:data:`SEARCH_CELLS_PER_SECOND` x
#: budget; too few rows to subsample as well) takes this many folds: about half the cost
#: of 5 a trial, and every row still validated.
MIN_HOLDOUT_ROWS = 1_000
FEW_FOLDS = 3
#: ``search_rows="auto"``: the trials use at most this many cells (rows x features) per
#: second of ``time_budget``. LightGBM's defaults fit and predict about 1.3 million cells
#: a second on one core, so a trial of them takes about a fortieth of the budget (90,000
#: rows of 21 features under 60 s), and the search can run a few dozen.
SEARCH_CELLS_PER_SECOND = 32_000
#: ... but never fewer rows than this.
MIN_SEARCH_ROWS = 10_000
#: ... and only on data at least this many times larger than the subsample. Nearer, a
#: search on all rows runs enough trials, and at 30 s one on half the rows did no better
#: (fars better, connect_4 worse; docs/benchmarks.md).
SUBSAMPLE_AT = 4


def _search_rows(search_rows: int | str | None, dataset: Dataset,
                 time_budget: float | None, cv) -> int | None:
    """How many rows the trials use, when fewer than all of ``dataset``'s; else None."""
    if search_rows is None:
        return None
    if search_rows == "auto":
        # Splits given as positions are of all rows (search_rows=N with them is refused).
        if time_budget is None or (is_given_splits(cv) and not is_splitter(cv)):
            return None
        search_rows = max(MIN_SEARCH_ROWS, int(SEARCH_CELLS_PER_SECOND * time_budget
                                               / max(dataset.n_features, 1)))
        return search_rows if dataset.n_rows >= SUBSAMPLE_AT * search_rows else None
    return int(search_rows) if dataset.n_rows > search_rows else None


def _resolve_cv(cv: CV | str, dataset: Dataset, time_budget: float | None) -> CV:
    """The folds (int) or holdout share (float) a fit uses; ``cv="auto"`` holds out
    :data:`HOLDOUT_SHARE` of the rows when the data is too large to cross-validate
    :data:`AUTO_FOLDS` times within ``time_budget``, as FLAML does, or, on too few rows
    for that holdout, takes :data:`FEW_FOLDS` folds on data of more cells than the
    trials' allowance (wide data)."""
    if cv != "auto":
        return cv
    if time_budget is None:
        return AUTO_FOLDS
    if dataset.n_rows * HOLDOUT_SHARE < MIN_HOLDOUT_ROWS:
        wide = dataset.n_rows * dataset.X.shape[1] > SEARCH_CELLS_PER_SECOND * time_budget
        return FEW_FOLDS if wide else AUTO_FOLDS
    cells = dataset.n_rows * dataset.X.shape[1] / (1 - HOLDOUT_SHARE)
    if dataset.n_rows >= HOLDOUT_ROWS or cells >= CELLS_PER_HOUR * time_budget / 3600:
        return HOLDOUT_SHARE
    return AUTO_FOLDS


class _Budget:
    """The search's deadline, less the time refitting the best trials so far will take.

    Used as an Optuna callback: after each trial it re-estimates the refit of the best
    ``members`` trials (one fit on all rows ~ a trial's summed fits / the rows they
    trained on, in dataset sizes: cv - 1 for folds, 1 - share for a holdout; capped at
    half the budget) and stops the study once nothing is left, so that ``fit`` as a
    whole, refits included, keeps to ``time_budget``. With ``blends(best, other)``, a
    trial after the best counts only when that says blending it with the best helps: a
    trial the ensemble would not take holds back no time. Nor does a trial whose fold
    models are in ``held`` (delivered as they are, without a refit).
    """

    def __init__(self, deadline: float | None, seconds: float | None, trained_sizes: float,
                 members: int = 1,
                 blends: Callable[[optuna.trial.FrozenTrial, optuna.trial.FrozenTrial],
                                  bool] | None = None,
                 held: _BestTrials | None = None):
        self.deadline, self.seconds, self.members = deadline, seconds, members
        self.blends, self.held = blends, {} if held is None else held
        #: The rows a trial's fits train on, in dataset sizes
        #: (:func:`~automl_meta.evaluation.trained_sizes`).
        self.trained_sizes = trained_sizes
        self.reserve = 0.0
        #: Set by a first Ctrl-C (:func:`_first_interrupt_stops`): start no more trials.
        self.interrupted = False
        #: Whether a trial has finished with a score (from then on slow trials stop early).
        self.has_result = False

    def left(self) -> float:
        """Seconds to the deadline."""
        return self.deadline - time.monotonic()

    def remaining(self) -> float:
        """Seconds the search has left: to the deadline, less the refits' reserve."""
        return self.left() - self.reserve

    def refit_time(self) -> float | None:
        """Seconds for the refits once the search has ended (None without a budget): to
        the deadline, or what the search kept back for them if more (the last trial's
        end may have eaten into it)."""
        return None if self.deadline is None else max(self.left(), self.reserve)

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if self.interrupted:
            study.stop()
        if self.deadline is None:
            return
        done = [t for t in study.get_trials(deepcopy=False,
                                            states=(optuna.trial.TrialState.COMPLETE,))
                if t.user_attrs.get("fit_seconds")]
        best = sorted(done, key=lambda t: t.value)[:self.members]
        if self.blends is not None:
            best = best[:1] + [t for t in best[1:] if self.blends(best[0], t)]
        self.has_result = bool(done)  # finished trials stay: once True, always True
        if best:
            refits = sum(t.user_attrs["fit_seconds"] for t in best
                         if t.number not in self.held) / self.trained_sizes
            self.reserve = min(refits, 0.5 * self.seconds)
        if self.remaining() <= 0:
            study.stop()


@dataclass(frozen=True)
class _Objective:
    """Optuna objective: the cross-validated loss of the family and parameters sampled."""

    dataset: Dataset
    families: tuple[str, ...]
    metric: Metric
    folds: list[tuple[np.ndarray, np.ndarray]]
    seed: int
    budget: _Budget
    #: Out-of-fold predictions of the best trials, kept when ensembling (else None).
    oof: _OutOfFold | None = None
    sample_weight: np.ndarray | None = None
    #: The fold models of the best trials that could not be refit within the budget
    #: (None: none kept).
    fold_models: _BestTrials | None = None

    def __call__(self, trial: optuna.Trial) -> float:
        try:
            # A trial without a budget runs here, not in a worker: OpenMP's thread count
            # is per thread, so set it in the trial's own thread (~3 ms, so only then).
            in_process = self.budget.deadline is None
            with (threadpool_limits(limits=1, user_api="openmp") if in_process
                  else contextlib.nullcontext()):
                return self._run(trial)
        except optuna.TrialPruned:
            raise
        except Exception as exc:  # noqa: BLE001 - a trial that raises fails, the search goes on
            trial.set_user_attr("status", "failed")
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[-2000:])
            return math.nan

    def _run(self, trial: optuna.Trial) -> float:
        if self.budget.interrupted:  # a trial another thread started after a Ctrl-C
            raise optuna.TrialPruned("interrupted")
        family = trial.suggest_categorical("family", self.families)
        params = suggest(trial, family, self.dataset.task, prefix=f"{family}__")
        time_limit = projected_limit = None
        # The first trial on all rows: when stopped after a fold, with nothing to fall
        # back on, it is scored on the folds done and delivered as their models.
        first = (self.budget.deadline is not None and not self.budget.has_result
                 and self.fold_models is not None)
        if self.budget.deadline is not None:
            time_limit = self.budget.remaining()
            if time_limit <= 0:  # a parallel trial that started as the budget ran out
                raise optuna.TrialPruned("time budget spent")
            if self.budget.has_result:
                projected_limit = max(SLOW_TRIAL_SHARE * time_limit,
                                      min(time_limit, SHORT_TRIAL_SHARE * self.budget.seconds))
                if len(self.folds) == 1:  # a holdout: its one fold is the whole trial
                    time_limit = projected_limit
            else:  # nothing to go on: run to the end, unless it cannot end in time anyway
                if first:
                    # Its fold models are delivered as they are, no refit needed, if it
                    # ends within the slack a refit is allowed past the deadline.
                    time_limit += REFIT_SLACK_SHARE * self.budget.seconds
                projected_limit = time_limit
        result = evaluate(family, params, self.dataset, self.metric, self.folds, seed=self.seed,
                          time_limit=time_limit, projected_limit=projected_limit,
                          return_predictions=self.oof is not None,
                          return_models=(False if self.fold_models is None else
                                         max(self.budget.left(), 0.0)
                                         + REFIT_SLACK_SHARE * self.budget.seconds),
                          partial=first, sample_weight=self.sample_weight)
        if result.projected_seconds is not None:
            # What the trial would have taken: the sampler's cost model learns from it.
            trial.set_user_attr("projected_seconds", result.projected_seconds)
        fold_scores = result.fold_scores.get(self.metric.name, [])
        partial = (result.status == "timeout" and bool(result.models)
                   and bool(np.all(np.isfinite(fold_scores))))
        if not (result.ok or partial):
            trial.set_user_attr("status", result.status)
            trial.set_user_attr("error", result.error)
            return math.nan  # Optuna records the trial as failed and goes on
        trial.set_user_attr("status", "ok")
        loss = float(self.metric.loss(np.mean(fold_scores)))
        if partial:
            trial.set_user_attr("error", f"scored on {len(fold_scores)} of {len(self.folds)} "
                                         f"folds, delivered as their models: {result.error}")
        if self.oof is not None and result.oof is not None:
            self.oof.add(trial.number, loss, result.oof)
        if result.models is not None:
            self.fold_models.add(trial.number, loss, result.models)
        trial.set_user_attr("fold_scores", fold_scores)
        trial.set_user_attr("fit_seconds", float(np.sum(result.fit_seconds)))
        return loss


@contextlib.contextmanager
def _first_interrupt_stops(study: optuna.Study, budget: _Budget) -> Iterator[None]:
    """While the search runs, a first Ctrl-C (SIGINT) stops it once the trials in progress
    end, and ``fit`` goes on with the trials finished; a second one interrupts at once.

    Only where Python's own handler is in place and in the main thread (a script, the
    command line, Jupyter): another program's handler is left alone. A trial running in
    a worker process under a time budget fails when the Ctrl-C of a terminal reaches its
    worker too.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return

    def stop(signum, frame):
        if budget.interrupted:
            signal.default_int_handler(signum, frame)  # raises KeyboardInterrupt
        budget.interrupted = True
        with contextlib.suppress(RuntimeError):  # Optuna allows it in the trials' thread
            study.stop()  # (n_jobs=1); else the next trial's end stops the study
        print("automl_meta: interrupted; the search stops once the trials in progress end, "
              "then fit goes on with the trials finished (interrupt again to stop at once)",
              file=sys.stderr, flush=True)

    signal.signal(signal.SIGINT, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


#: Under a time budget, once a trial has finished, a trial stops in or after a fold when
#: its time so far projects its whole CV past this share of the search's time left at its
#: start (:func:`~automl_meta.evaluation.evaluate`'s ``projected_limit``): twice the
#: share the meta-learned sampler admits a trial predicted to take
#: (:data:`automl_meta.sampler.AFFORDABLE_SHARE`), so only a trial far slower than
#: predicted, or one TPE proposed that would take most of what is left, is stopped.
SLOW_TRIAL_SHARE = 0.5

#: A trial projected to take at most this share of the whole time budget is not stopped
#: while it fits in the time left: near the deadline half the time left is less than any
#: trial takes, and stopping every trial there would waste the search's last seconds.
SHORT_TRIAL_SHARE = 0.05

#: Trials (the best by cross-validated score) that greedy ensemble selection draws from.
ENSEMBLE_CANDIDATES = 20

#: With ensembling, the search keeps back the time to refit up to this many of its best
#: trials (the best, and the others whose blend with it helps).
ENSEMBLE_REFIT_RESERVE = 3


class _BestTrials(dict):
    """What trials leave (by trial number) of the ``capacity`` trials with the lowest
    loss so far, so that a long search does not hold every trial's."""

    def __init__(self, capacity: int):
        super().__init__()
        self.capacity = capacity
        self._losses: dict[int, float] = {}
        self._lock = threading.Lock()  # trials end in parallel threads with n_jobs > 1

    def add(self, number: int, loss: float, value) -> None:
        with self._lock:
            self[number] = value
            self._losses[number] = loss if math.isfinite(loss) else math.inf
            if len(self) > self.capacity:
                worst = max(self._losses, key=self._losses.__getitem__)
                del self[worst], self._losses[worst]


class _OutOfFold(_BestTrials):
    """Out-of-fold predictions of the ``ENSEMBLE_CANDIDATES`` best trials (the only ones
    ensemble selection draws from)."""

    def __init__(self):
        super().__init__(ENSEMBLE_CANDIDATES)

    def blender(self, dataset: Dataset, metric: Metric, sample_weight: np.ndarray | None
                ) -> Callable[[optuna.trial.FrozenTrial, optuna.trial.FrozenTrial], bool]:
        """``blends(best, other)``: whether the even blend of the two trials' out-of-fold
        predictions scores better than ``best``'s alone (Caruana's second round, on a
        pair); False when either's predictions are not held."""
        y, labels = _blend_target(dataset)

        def blends(best: optuna.trial.FrozenTrial, other: optuna.trial.FrozenTrial) -> bool:
            with self._lock:
                a, b = self.get(best.number), self.get(other.number)
            if a is None or b is None:
                return False
            rows = _validated_rows(a)
            w = None if sample_weight is None else sample_weight[rows]
            alone = metric.loss(_blend_score(metric, y[rows], a[rows], labels, w))
            pair = metric.loss(_blend_score(metric, y[rows], (a[rows] + b[rows]) / 2, labels,
                                            w))
            return bool(pair < alone)

        return blends


def _caruana(leaderboard: pd.DataFrame, oof: dict, dataset: Dataset, metric: Metric,
             size: int, refit_seconds: dict[int, float] | None = None,
             refit_time: float | None = None, sample_weight: np.ndarray | None = None
             ) -> tuple[dict[int, int], float]:
    """Greedy ensemble selection with replacement (Caruana et al., 2004) on out-of-fold
    predictions: ``size`` rounds, each adding the trial that most improves the blend's
    score (weighted by ``sample_weight`` when given); the best round's blend is kept.
    Returns (trial number -> times chosen, score of the blend).

    With ``refit_time``, a trial not chosen yet is a candidate only while the estimated
    refits of the chosen trials and its own (``refit_seconds``) fit in that many
    seconds; the first member is always allowed."""
    ok = leaderboard[(leaderboard["status"] == "ok") & leaderboard["trial"].isin(list(oof))]
    numbers = [int(t) for t in ok["trial"].head(ENSEMBLE_CANDIDATES)]
    scored = _validated_rows(oof[numbers[0]]) if numbers else slice(None)
    candidates = [(t, oof[t][scored]) for t in numbers]
    y, labels = _blend_target(dataset)
    y = y[scored]
    w = None if sample_weight is None else sample_weight[scored]
    chosen: list[int] = []
    total = None
    history: list[tuple[float, int]] = []  # (loss of the blend, rounds)
    refits = 0.0
    for _ in range(size):
        best = None
        for number, predictions in candidates:
            if (refit_time is not None and chosen and number not in chosen
                    and refits + refit_seconds[number] > refit_time):
                continue
            blend = predictions if total is None else (total + predictions) / (len(chosen) + 1)
            loss = float(metric.loss(_blend_score(metric, y, blend, labels, w)))
            if best is None or loss < best[0]:
                best = (loss, number, predictions)
        if best is None or not math.isfinite(best[0]):
            break
        if best[1] not in chosen and refit_seconds is not None:
            refits += refit_seconds[best[1]]
        chosen.append(best[1])
        total = best[2].copy() if total is None else total + best[2]
        history.append((best[0], len(chosen)))
    if not history:
        top = int(leaderboard["trial"].iloc[0])
        return {top: 1}, float(leaderboard["score"].iloc[0])
    loss, rounds = min(history)  # the earliest of equally good blends
    counts: dict[int, int] = {}
    for number in chosen[:rounds]:
        counts[number] = counts.get(number, 0) + 1
    return counts, float(metric.loss(loss))  # loss() is its own inverse


#: Under a time budget, the trial refit is the best whose refit is estimated to end
#: within this share of the budget after the deadline (or the quickest to refit).
REFIT_SLACK_SHARE = 0.05


def _deliverable(leaderboard: pd.DataFrame, refit_seconds: dict[int, float],
                 refit_time: float | None, time_budget: float | None) -> pd.DataFrame:
    """The leaderboard's successful trials that can be refit in ``refit_time`` seconds
    (the time left, or what the search kept back for refits if more) and a twentieth of
    the budget (all without a budget). The search keeps back the best trials' refit time
    up to half the budget; trials on a subsample (``search_rows``) are quick, but their
    configurations' refits on all rows may take longer than that, and a configuration
    whose refit would take the fit far past its budget is passed over. When none fits,
    the quickest to refit."""
    ok = leaderboard[leaderboard["status"] == "ok"]
    if refit_time is None:
        return ok
    seconds = ok["trial"].astype(int).map(refit_seconds)
    fits = ok[seconds <= max(refit_time, 0.0) + REFIT_SLACK_SHARE * time_budget]
    return fits if len(fits) else ok.loc[[seconds.idxmin()]]


def _validated_rows(predictions: np.ndarray) -> np.ndarray:
    """The rows a trial's out-of-fold predictions cover: all under cross-validation, the
    validation rows under a holdout (every trial uses the same splits)."""
    return ~np.isnan(predictions).reshape(len(predictions), -1).any(axis=1)


def _blend_target(dataset: Dataset) -> tuple[np.ndarray, np.ndarray | None]:
    """The target blends are scored against, and the class labels (None: regression)."""
    labels = np.sort(dataset.y.unique()) if dataset.task == "classification" else None
    return dataset.y.to_numpy(), labels


def _blend_score(metric: Metric, y: np.ndarray, blend: np.ndarray, labels,
                 sample_weight: np.ndarray | None) -> float:
    if labels is not None and not metric.needs_proba:
        blend = labels[np.argmax(blend, axis=1)]
    try:
        return metric(y, blend, labels, sample_weight)
    except Exception as exc:  # noqa: BLE001 - a metric of one's own may raise anything
        # A built-in metric raises ValueError where the rows given leave it undefined. A
        # trial that a metric of one's own fails on fails, and a blend it fails on is left
        # out, with a warning.
        if metric.is_builtin and not isinstance(exc, ValueError):
            raise
        if not metric.is_builtin:
            warnings.warn(f"metric {metric.name!r} raised {type(exc).__name__} on a blend of "
                          f"out-of-fold predictions, which ensemble selection leaves out: "
                          f"{exc}", RuntimeWarning, stacklevel=2)
        return math.nan


class WeightedEnsemble:
    """Fitted pipelines whose probabilities (classification) or predictions (regression)
    are averaged with weights; what ``best_estimator_`` is when ``ensemble_size`` > 1
    selects more than one trial, and a trial's fold models averaged (:meth:`average`)."""

    def __init__(self, estimators: Sequence, weights: np.ndarray, task: str):
        self.estimators_ = list(estimators)
        self.weights_ = np.asarray(weights, dtype=float)
        self.task = task
        if task == "classification":
            self.classes_ = np.unique(np.concatenate(
                [np.asarray(e.classes_) for e in self.estimators_]))

    @classmethod
    def average(cls, estimators: Sequence, task: str) -> WeightedEnsemble:
        """The even average of ``estimators`` (a trial's fold models, say)."""
        return cls(estimators, np.full(len(estimators), 1 / len(estimators)), task)

    def predict_proba(self, X) -> np.ndarray:
        return sum(w * aligned_proba(e, X, self.classes_)
                   for e, w in zip(self.estimators_, self.weights_, strict=True))

    def predict(self, X) -> np.ndarray:
        if self.task == "classification":
            return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
        return sum(w * np.asarray(e.predict(X), dtype=float)
                   for e, w in zip(self.estimators_, self.weights_, strict=True))


def _enqueue_default(study: optuna.Study, family: str, task: str) -> None:
    # skip_if_exists: a resumed or shared study runs each default once.
    study.enqueue_trial(trial_params(family, default_params(family, task)),
                        user_attrs={"source": "default"}, skip_if_exists=True)


#: Prefix of the study system attributes by which the processes fitting on a study
#: register (their host and pid).
_WORKER_ATTR = "automl_meta:worker:"


def _recover_interrupted(study: optuna.Study) -> None:
    """Fail the trials that killed processes left RUNNING and enqueue them again, then
    register this process as a worker of the study.

    Only the process running a trial can finish it, and every process that fits on a
    study registers in it before its first trial. When every registered process ran on
    this host and has died, the RUNNING trials that started before this check will
    never finish: each becomes a FAIL trial (``error`` says it was interrupted) and the
    configuration it was evaluating is enqueued again, so that a resumed search loses
    nothing and counts nothing twice. While a registered process lives, or ran on
    another host, its trials are left alone.
    """
    storage, study_id = study._storage, study._study_id
    host = socket.gethostname()
    workers = [value for key, value in storage.get_study_system_attrs(study_id).items()
               if key.startswith(_WORKER_ATTR)]
    checked = datetime.datetime.now()
    if workers and all(h == host and not pid_alive(pid) for h, pid in workers):
        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            if trial.datetime_start is not None and trial.datetime_start < checked:
                _retry_interrupted(study, trial)
    # One entry per process (a refit in the same process overwrites it): Optuna cannot
    # delete a study attribute, so the registry grows by processes, not by fits.
    storage.set_study_system_attr(study_id, f"{_WORKER_ATTR}{host}:{os.getpid()}",
                                  [host, os.getpid()])


def _retry_interrupted(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    storage = study._storage
    try:
        storage.set_trial_user_attr(trial._trial_id, "error",
                                    "interrupted: the process running the trial died")
        storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
    except optuna.exceptions.UpdateFinishedTrialError:  # another process recovered it
        return
    params = trial.system_attrs.get("fixed_params") or trial.params
    if params:
        attrs = {"retry_of": trial.number}
        if "source" in trial.user_attrs:
            attrs["source"] = trial.user_attrs["source"]
        study.enqueue_trial(params, user_attrs=attrs)


def _leaderboard(trials: Sequence[optuna.trial.FrozenTrial], metric: Metric) -> pd.DataFrame:
    """Finished trials, best first: successes by loss then trial number, then failures."""
    rows = []
    for trial in trials:
        if trial.state not in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL):
            continue  # pruned at the deadline, or still running in another process
        # A trial that failed before sampling its family has no configuration.
        family, params = config_from_params(trial.params) or (None, {})
        fold_scores = trial.user_attrs.get("fold_scores") or [math.nan]
        ok = trial.state == optuna.trial.TrialState.COMPLETE
        rows.append({
            "trial": trial.number, "family": family, "params": params,
            "score": float(np.mean(fold_scores)), "std": float(np.std(fold_scores)),
            "fit_seconds": trial.user_attrs.get("fit_seconds", math.nan),
            "status": trial.user_attrs.get("status", "ok" if ok else "failed"),
            "error": trial.user_attrs.get("error", trial.system_attrs.get("fail_reason")),
        })
    frame = pd.DataFrame(rows, columns=LEADERBOARD_COLUMNS[1:])
    failed = frame["status"] != "ok"
    loss = np.where(failed, np.inf, metric.loss(frame["score"].to_numpy(dtype=float)))
    order = np.lexsort((frame["trial"].to_numpy(), loss, failed.to_numpy()))
    frame = frame.iloc[order].reset_index(drop=True)
    n_ok = int((~failed).sum())
    rank = pd.array(list(range(1, n_ok + 1)) + [None] * (len(frame) - n_ok), dtype="Int64")
    frame.insert(0, "rank", rank)
    return frame


def _failure_message(leaderboard: pd.DataFrame, n_reasons: int = 3) -> str:
    if leaderboard.empty:
        return "no trial finished within the time budget; give a larger time_budget"
    reasons = [f"trial {row.trial} ({row.family}): {row.status}: {row.error}"
               for row in leaderboard.head(n_reasons).itertuples()]
    message = f"every trial failed ({len(leaderboard)}); first failures: " + "; ".join(reasons)
    if (leaderboard["status"] == "timeout").all():
        message += ("; every trial ran out of time: give a larger time_budget, or make the "
                    "trials cheaper (fewer folds such as cv=3, a holdout such as cv=0.2, fewer "
                    "rows with search_rows, or faster families)")
    return message


@contextlib.contextmanager
def _optuna_verbosity(verbose: int) -> Iterator[None]:
    """Optuna's per-trial log lines only when ``verbose``; restored afterwards."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.ERROR)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


# ---------------------------------------------------------------------------------------
# Input checks


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(
        value)


def _single_class_split(folds: list[tuple[np.ndarray, np.ndarray]],
                        y: pd.Series) -> int | None:
    """The first split that validates on a single class (where ROC AUC is undefined)."""
    codes, _ = pd.factorize(y)
    for k, (_, validation) in enumerate(folds):
        if len(np.unique(codes[validation])) < 2:
            return k
    return None


def _folds_validating_two_classes(cv: CV, folds: list[tuple[np.ndarray, np.ndarray]],
                                  dataset: Dataset, seed: int, groups: np.ndarray | None
                                  ) -> tuple[CV, list[tuple[np.ndarray, np.ndarray]]]:
    """``cv="auto"``'s folds, fewer of them (down to 2, with a warning) while a split
    validates on a single class: stratified folds cannot all hold a class that has fewer
    rows than folds, and on two classes ROC AUC is then undefined on every trial. A
    holdout that misses a class is replaced by folds the same way."""
    k = cv
    if not isinstance(k, int) and _single_class_split(folds, dataset.y) is not None:
        k = AUTO_FOLDS
        folds = make_folds(dataset, k, seed, groups)
    while k > 2 and _single_class_split(folds, dataset.y) is not None:
        k -= 1
        folds = make_folds(dataset, k, seed, groups)
    if k != cv and _single_class_split(folds, dataset.y) is None:
        rare, rows = _rarest_class(dataset.y)
        asked = f"{cv} folds" if isinstance(cv, int) else f"a {cv:.0%} holdout"
        warnings.warn(f"cv='auto': {k} folds instead of {asked}, so that every fold "
                      f"validates on both classes (class {rare!r} has {rows} rows); ROC AUC "
                      "is undefined on one class", UserWarning, stacklevel=4)
    return k, folds


def _rarest_class(y: pd.Series) -> tuple[object, int]:
    """The class with the fewest rows (a categorical's unused categories aside), and them."""
    counts = y.value_counts()
    counts = counts[counts > 0]
    return counts.index[-1], int(counts.iloc[-1])


def _check_validation_classes(folds: list[tuple[np.ndarray, np.ndarray]],
                              y: pd.Series, cv: CV) -> None:
    """Fail here rather than in every trial when a split validates on a single class,
    where ROC AUC is undefined."""
    k = _single_class_split(folds, y)
    if k is None:
        return
    if is_given_splits(cv):
        raise DataValidationError(
            f"cv: split {k} validates on a single class, where ROC AUC is undefined; "
            "use a stratified splitter (StratifiedKFold, StratifiedGroupKFold) or "
            "another metric")
    rare, rows = _rarest_class(y)
    advice = ("another metric" if rows < 2 else
              "fewer folds (cv='auto' picks as many as the classes allow) or another metric")
    raise DataValidationError(
        f"cv={cv!r}: split {k} validates on a single class, where ROC AUC is undefined: "
        f"class {rare!r} has {rows} of {len(y)} rows; use {advice}")


def _check_families(families: Sequence[str] | None) -> list[str]:
    if families is None:
        return list(FAMILIES)
    if isinstance(families, str):
        families = [families]
    names = list(dict.fromkeys(families))
    if not names:
        raise DataValidationError(f"families is empty; choose among {sorted(FAMILIES)}")
    for name in names:
        get_family(name)
    return names


def _warn_unseen_categories(X: pd.DataFrame, seen: dict[str, frozenset]) -> None:
    """Warn of categories ``fit`` did not see. The pipelines encode them as unknown: a
    missing value for the tree models, no category for one-hot encodings, the prior for
    target encodings."""
    found = []
    for name, categories in seen.items():
        new = [c for c in X[name].cat.categories if c not in categories]
        if new:
            rows = int(X[name].isin(new).sum())
            shown = ", ".join(repr(c) for c in new[:3]) + (", ..." if len(new) > 3 else "")
            found.append(f"column {name!r}: {len(new)} ({shown}) in {rows} rows")
    if found:
        warnings.warn("categories not seen in fit, which the pipelines encode as unknown: "
                      + "; ".join(found), UserWarning, stacklevel=4)


def _conform(X: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Columns typed as in fit: numbers as float64, categories as strings (unseen kept)."""
    # Numeric columns of a numeric dtype are converted at once (wide data has thousands).
    fast = [is_plain_numeric(dtype) and name not in schema.categorical
            for name, dtype in X.dtypes.items()]
    matrix = iter(X.loc[:, fast].to_numpy(dtype="float64", na_value=np.nan).T)
    out = {}
    for i, (name, is_fast) in enumerate(zip(X.columns, fast, strict=True)):
        if is_fast:
            values = next(matrix)
        elif name in schema.categorical:
            out[name] = text_categories(X.iloc[:, i])
            continue
        else:
            try:
                values = numeric_values(X.iloc[:, i])
            except (ValueError, TypeError) as exc:
                raise DataValidationError(
                    f"column {name!r} was numeric in fit but holds other values: {exc}") \
                    from exc
        check_finite_range(values, name)
        out[name] = values
    return pd.DataFrame(out, index=X.index)


__all__ = ["AutoMetaClassifier", "AutoMetaRegressor", "SearchFailedError", "WeightedEnsemble"]
