"""Recommendations: which model families and configurations to try first on a dataset.

:func:`recommend` embeds a dataset (its meta-features), asks the meta-learner what every
candidate configuration is worth there, and returns a :class:`Recommendation`: families
ranked by their best predicted configuration, k configurations to try first (the
learner's diverse top alternating with the knowledge base's portfolio,
:func:`startup_order`), per-hyperparameter priors as Optuna distributions, and the
nearest datasets of the knowledge base as an explanation.

Example
-------
>>> from sklearn.datasets import load_breast_cancer
>>> from automl_meta import recommend
>>> X, y = load_breast_cancer(return_X_y=True, as_frame=True)
>>> rec = recommend(X, y, k=5)  # doctest: +SKIP
>>> print(rec)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from scipy.stats import qmc

from automl_meta.data import make_dataset
from automl_meta.exceptions import DataValidationError, KnowledgeBaseError
from automl_meta.spaces import (
    FAMILIES,
    default_params,
    encode,
    from_unit,
    get_family,
    unit_coordinate,
    value_from_unit,
)

#: Random (scrambled Sobol) candidates per family beside the knowledge base's design.
N_CANDIDATES = 128
#: Configurations of one family closer than this (RMS distance of their encodings) are
#: near-copies: the top-k keeps only the better one.
MIN_DISTANCE = 0.15
#: Nearest known datasets shown in the explanation.
N_NEIGHBOURS = 5
#: Share of a family's best-predicted candidates that its priors cover.
PRIOR_QUANTILE = 0.2
#: The meta-learner's first pick replaces the knowledge base's best configuration only
#: when it is predicted better by more than this many standard deviations (of the
#: ensemble, for the difference of the two): a zero-shot prediction for an unseen
#: dataset is often wrong, the configuration best across all datasets rarely bad.
FIRST_PICK_MARGIN = 2.0
#: A sample size's portfolio needs this many datasets of the task evaluated on it;
#: else the sample size with the most datasets is used.
MIN_PORTFOLIO_DATASETS = 10


@dataclass(frozen=True)
class Prior:
    """Where good values of one hyperparameter are expected.

    ``distribution`` is narrowed to the values of the family's best-predicted
    configurations (widened by a margin); ``full`` is the whole space, which stays valid:
    :class:`~automl_meta.sampler.MetaLearnedSampler` keeps exploring it.
    """

    distribution: BaseDistribution
    full: BaseDistribution
    best: object  # the value in the family's best-predicted configuration


@dataclass
class Recommendation:
    """What :func:`recommend` returns.

    Attributes
    ----------
    task : str
    families : DataFrame
        ``family``, ``predicted_score`` (of its best candidate), ``uncertainty``, ranked
        best first. Scores are the meta-learner's normalised scores: comparable within
        this dataset, higher is better; not metric values.
    configurations : DataFrame
        The top-k configurations in the order to try them: ``family``, ``params``
        (dict), ``predicted_score``, ``uncertainty``, ``source``. The meta-learner's
        diverse top (no two of one family closer than :data:`MIN_DISTANCE`; a family
        takes a third of the places at most while other families can fill them)
        alternates with the knowledge base's greedy portfolio (``source`` says which
        list a configuration comes from: ``meta-learner``, ``portfolio`` or ``both``);
        see :func:`startup_order`.
    priors : dict
        ``priors[family][parameter]`` is a :class:`Prior`.
    neighbours : DataFrame
        The nearest knowledge-base datasets of the same task: ``dataset``, ``distance``
        (L1 on normalised meta-features), ``best_family``, ``best_score``.
    explanation : str
    metafeatures : pandas.Series
        The dataset's raw meta-features.
    """

    task: str
    families: pd.DataFrame
    configurations: pd.DataFrame
    priors: dict[str, dict[str, Prior]]
    neighbours: pd.DataFrame
    explanation: str
    metafeatures: pd.Series = field(repr=False)

    def trial_params(self) -> list[dict]:
        """The top-k configurations as Optuna trial parameters (``family`` and
        ``<family>__<name>``), ready for ``study.enqueue_trial``."""
        from automl_meta.sampler import trial_params

        return [trial_params(f, p) for f, p in zip(self.configurations["family"],
                                                   self.configurations["params"], strict=True)]

    def to_dict(self) -> dict:
        """A JSON-serialisable summary (what ``automl-meta recommend --json`` prints)."""
        return {
            "task": self.task,
            "families": self.families.to_dict("records"),
            "configurations": self.configurations.to_dict("records"),
            "priors": {f: {n: {"distribution": _describe(p.distribution),
                               "full": _describe(p.full), "best": p.best}
                           for n, p in params.items()} for f, params in self.priors.items()},
            "neighbours": self.neighbours.to_dict("records"),
            "explanation": self.explanation,
        }

    def __repr__(self) -> str:
        # One line (the tables are what print() shows), not the dataclass's dump of them.
        return (f"Recommendation(task={self.task!r}, families={list(self.families['family'])}, "
                f"{len(self.configurations)} configurations, {len(self.neighbours)} "
                f"neighbours)")

    def __str__(self) -> str:
        lines = [f"Recommendation for a {self.task} dataset", "", "Model families:"]
        for i, row in enumerate(self.families.itertuples(), 1):
            lines.append(f"  {i}. {row.family:<24} {row.predicted_score:+.3f} "
                         f"(± {row.uncertainty:.3f})")
        lines += ["", "Configurations to try first:"]
        for i, row in enumerate(self.configurations.itertuples(), 1):
            lines.append(f"  {i:>2}. {row.family:<24} {row.predicted_score:+.3f}  "
                         f"{row.source:<12} {json.dumps(row.params)}")
        lines += ["", self.explanation]
        return "\n".join(lines)


def recommend(X, y, k: int = 10, *, task: str | None = None,
              metafeatures: pd.Series | None = None, learner=None, knowledge_base=None,
              families: Sequence[str] | None = None, n_candidates: int = N_CANDIDATES,
              seed: int = 0, rows: int | None = None) -> Recommendation:
    """Recommend model families, configurations and priors for a dataset.

    Parameters
    ----------
    X : DataFrame or array of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    k : int, default 10
        Number of configurations.
    task : {"classification", "regression"} or None
        None: inferred from ``y``.
    metafeatures : pandas.Series or None
        The dataset's raw meta-features when already extracted.
    learner : MetaLearner or None
        None: the shipped meta-learner (``metadata/metalearner``).
    knowledge_base : KnowledgeBase or None
        For the design configurations and the nearest datasets; None: the shipped one.
    families : sequence of str or None
        Restrict to these model families.
    n_candidates : int, default 128
        Random candidates per family scored beside the knowledge base's design.
    seed : int, default 0
    rows : int or None
        Recommend for models trained and validated on this many rows (e.g. a subsample
        of ``X``); None: all of the dataset's. A meta-learner trained on several sample
        sizes per dataset (``MetaLearner.fidelity_``) predicts for that size.

    Returns
    -------
    Recommendation

    Raises
    ------
    DataValidationError
        Bad data or arguments.
    KnowledgeBaseError
        No knowledge base or meta-learner where expected.
    """
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise DataValidationError(f"k must be a positive integer, got {k!r}")
    if not isinstance(n_candidates, (int, np.integer)) or isinstance(n_candidates, bool) or (
            n_candidates < 0):
        raise DataValidationError(f"n_candidates must be an integer >= 0, got {n_candidates!r}")
    dataset = make_dataset(X, y, task=task)
    if metafeatures is None:
        from automl_meta.metafeatures import MetaFeatureExtractor

        # The extractor's defaults, as the knowledge base's meta-features were computed.
        metafeatures = MetaFeatureExtractor().extract(dataset.X, dataset.y, task=dataset.task)
    context = Context.create(dataset.task, metafeatures, learner, knowledge_base, families,
                             rows)
    return context.recommendation(int(k), n_candidates, seed)


@dataclass
class Context:
    """A dataset's embedding with the meta-learner and knowledge base that judge it."""

    task: str
    metafeatures: pd.Series
    learner: object
    knowledge_base: object
    families: list[str]
    rows: float | None = None  # the sample size to predict for (None: the dataset's)

    @classmethod
    def create(cls, task: str, metafeatures, learner=None, knowledge_base=None,
               families: Sequence[str] | None = None, rows: int | None = None) -> Context:
        from automl_meta.metadataset.knowledge_base import KnowledgeBase
        from automl_meta.metalearner import MetaLearner
        from automl_meta.metalearner._learner import check_rows

        learner = learner if learner is not None else shipped_learner()
        if not isinstance(learner, MetaLearner):
            raise DataValidationError(f"learner must be a MetaLearner, got "
                                      f"{type(learner).__name__}")
        learner._check_fitted()
        check_rows(rows)  # here, so that a sampler fails when made, not at its first trial
        if knowledge_base is None:
            knowledge_base = KnowledgeBase.load()
        elif not isinstance(knowledge_base, KnowledgeBase):
            raise DataValidationError(f"knowledge_base must be a KnowledgeBase, got "
                                      f"{type(knowledge_base).__name__}")
        known = [f for f in learner.families_ if f in FAMILIES]
        if families is None:
            families = known
        else:
            if isinstance(families, str) or not len(families):
                raise DataValidationError("families must be a non-empty list of family names")
            for name in families:
                get_family(name)
            absent = sorted(set(families) - set(known))
            if absent:
                raise KnowledgeBaseError(f"the meta-learner was not trained on {absent}")
        if not isinstance(metafeatures, pd.Series):
            raise DataValidationError("metafeatures must be a pandas Series of raw "
                                      f"meta-features, got {type(metafeatures).__name__}")
        return cls(task, metafeatures, learner, knowledge_base, list(families), rows)

    def candidates(self, n_per_family: int, seed: int) -> list[tuple[str, dict]]:
        """The knowledge base's design configurations, each family's defaults and a
        scrambled Sobol sample of each family's space, without duplicates."""
        configs = self.knowledge_base.configurations
        out: dict[tuple[str, str], tuple[str, dict]] = {}
        for family in self.families:
            rows = configs[(configs["family"] == family) & (configs["task"] == self.task)]
            found = [default_params(family, self.task),
                     *(json.loads(p) for p in rows["params"])]
            dim = len(get_family(family).params(self.task))
            if n_per_family:
                sobol = qmc.Sobol(dim, scramble=True, seed=seed).random(n_per_family)
                found += [from_unit(family, self.task, u) for u in sobol]
            for params in found:
                out.setdefault((family, json.dumps(params, sort_keys=True)), (family, params))
        return list(out.values())

    def predict(self, candidates: Sequence[tuple[str, dict]], learner=None,
                ) -> tuple[np.ndarray, np.ndarray]:
        learner = learner if learner is not None else self.learner
        return learner.predict(self.metafeatures, [f for f, _ in candidates],
                               [p for _, p in candidates], task=self.task, rows=self.rows)

    def recommendation(self, k: int, n_candidates: int, seed: int) -> Recommendation:
        candidates = self.candidates(n_candidates, seed)
        mean, std = self.predict(candidates)
        order = np.argsort(-mean, kind="stable")
        families = (pd.DataFrame({"family": [f for f, _ in candidates], "predicted_score": mean,
                                  "uncertainty": std})
                    .iloc[order].drop_duplicates("family").reset_index(drop=True))
        index = {(f, json.dumps(p, sort_keys=True)): i for i, (f, p) in enumerate(candidates)}
        anchors = [index[key] for key in self.portfolio(k) if key in index]

        def encoder(family: str, params: dict) -> np.ndarray:
            return encode(family, self.task, params)

        learned = diverse_top(candidates, mean, k, encoder)
        picks = startup_order(learned, anchors, mean, std, k)
        configurations = pd.DataFrame({
            "family": [candidates[i][0] for i in picks],
            "params": [candidates[i][1] for i in picks],
            "predicted_score": mean[picks], "uncertainty": std[picks],
            "source": [("both" if i in anchors else "meta-learner") if i in learned
                       else "portfolio" for i in picks]})
        priors = {f: family_priors(f, self.task, [candidates[i][1] for i in order
                                                   if candidates[i][0] == f])
                  for f in families["family"]}
        neighbours = self.neighbours()
        return Recommendation(self.task, families, configurations, priors, neighbours,
                              _explain(families, neighbours), self.metafeatures)

    def portfolio(self, k: int) -> list[tuple[str, str]]:
        """The knowledge base's greedy portfolio for this task, families and sample size
        (:func:`population_portfolio`), as (family, JSON of the parameters) keys."""
        rows = self.rows if self.rows is not None else self.metafeatures.get("n_instances")
        rows = None if rows is None or not np.isfinite(rows) else float(rows)
        kb = self.knowledge_base
        keys = population_portfolio(kb.scores(), self.task, k, self.families, rows)
        configs = kb.configurations[kb.configurations["task"] == self.task].set_index(
            ["family", "config_id"])["params"]
        return [(family, json.dumps(json.loads(configs.loc[(family, config_id)]),
                                    sort_keys=True)) for family, config_id in keys]

    def neighbours(self, n: int = N_NEIGHBOURS) -> pd.DataFrame:
        """The nearest knowledge-base datasets of the same task, with their best family."""
        kb = self.knowledge_base
        same = kb.datasets.loc[kb.datasets["task"] == self.task, "name"]
        table = kb.metafeatures.drop_duplicates("dataset", keep="last").set_index("dataset")
        table = table.loc[table.index.intersection(same)]
        columns = ["dataset", "distance", "best_family", "best_score"]
        if table.empty:
            return pd.DataFrame(columns=columns)
        normalizer = self.learner.normalizer_
        distances = np.abs(normalizer.transform(table)
                           - normalizer.transform(self.metafeatures)).sum(axis=1)
        nearest = table.index[np.argsort(distances, kind="stable")[:n]]
        scores = kb.subset(nearest).scores()  # only the neighbours' evaluations are scored
        largest = scores["max_rows"].fillna(0)  # a neighbour's largest sample (extensions)
        scores = scores[scores["loss"].notna()
                        & (largest == largest.groupby(scores["dataset"]).transform("max"))]
        best = scores.loc[scores.groupby("dataset")["loss"].idxmin()].set_index("dataset")
        rows = []
        for name in nearest:
            found = name in best.index
            rows.append({"dataset": name,
                         "distance": float(distances[table.index.get_loc(name)]),
                         "best_family": best.at[name, "family"] if found else None,
                         "best_score": float(best.at[name, "score"]) if found else math.nan})
        return pd.DataFrame(rows, columns=columns)


def population_portfolio(scores: pd.DataFrame, task: str, k: int,
                         families: Sequence[str] | None = None, rows: float | None = None,
                         ) -> list[tuple[str, int]]:
    """A greedy portfolio of the knowledge base (auto-sklearn 2, FLAML zero-shot style):
    ``k`` (family, config_id) keys, each the configuration that most lowers the mean,
    over the datasets, of the best normalised regret of those before it.

    ``scores`` are :meth:`KnowledgeBase.scores` rows. Regrets are normalised within
    each dataset among ``families`` (all when None), at one sample size (``max_rows``):
    the one nearest to ``rows`` on a log scale among those with at least
    :data:`MIN_PORTFOLIO_DATASETS` datasets of the task, else (or when ``rows`` is None)
    the one with the most datasets. Only configurations evaluated on at least half of
    these datasets compete, each judged on the datasets it was run on (a failed run
    counts as regret 1). The first key is the configuration with the lowest mean
    regret, the knowledge base's best single configuration.
    """
    table = scores[scores["task"] == task]
    if families is not None:
        table = table[table["family"].isin(families)]
    ok = (table["status"] == "ok") & table["loss"].notna()
    if not ok.any():
        return []
    sizes = (table["max_rows"].fillna(0) if "max_rows" in table.columns
             else pd.Series(0, table.index))
    counts = table[ok].groupby(sizes[ok])["dataset"].nunique()
    usable = counts[counts >= MIN_PORTFOLIO_DATASETS]
    if rows is None or usable.empty or not (usable.index > 0).all():
        size = counts.idxmax()
    else:
        size = usable.index[int(np.argmin(np.abs(np.log(usable.index.to_numpy(float))
                                                 - np.log(max(rows, 1.0)))))]
    table, ok = table[sizes == size], ok[sizes == size]
    losses = table["loss"].where(ok)
    low = losses.groupby(table["dataset"]).transform("min")
    spread = losses.groupby(table["dataset"]).transform("max") - low
    # A failed evaluation counts as the dataset's worst; one never made is unknown.
    table = table.assign(regret=((losses - low) / spread).fillna(1.0))[spread > 0]
    regrets = table.pivot_table(index="dataset", columns=["family", "config_id"],
                                values="regret", aggfunc="mean")
    regrets = regrets.loc[:, regrets.notna().mean() >= 0.5]
    values = regrets.to_numpy()
    current = np.ones(len(values))
    chosen: list[int] = []
    for _ in range(min(k, values.shape[1])):
        with_it = np.where(np.isnan(values), np.nan, np.fmin(current[:, None], values))
        gains = np.nanmean(with_it, axis=0)  # over the datasets a configuration was run on
        gains[chosen] = np.inf
        best = int(np.argmin(gains))
        chosen.append(best)
        current = np.fmin(current, values[:, best])
    return [(str(regrets.columns[j][0]), int(regrets.columns[j][1])) for j in chosen]


def startup_order(learned: Sequence[int], anchors: Sequence[int], mean: np.ndarray,
                  std: np.ndarray, k: int, margin: float = FIRST_PICK_MARGIN) -> list[int]:
    """Indices of the ``k`` candidates to try first, in order.

    ``learned`` (the meta-learner's diverse top, :func:`diverse_top`) alternates with
    ``anchors`` (the knowledge base's portfolio), both candidate indices, best first,
    without repeats: a zero-shot prediction is a guess about an unseen dataset, the
    portfolio a hedge that did well across known ones. The first place goes to the
    portfolio's first configuration unless the meta-learner predicts its own top better
    (``mean``) by more than ``margin`` standard deviations (``std``) of the difference.
    """
    learned, anchors = list(learned)[:k], list(anchors)[:k]
    if not anchors or not learned:
        return (learned or anchors)[:k]
    top, first = learned[0], anchors[0]
    if mean[top] - mean[first] > margin * math.hypot(std[top], std[first]):
        first = top
    interleaved = [i for pair in zip(learned, anchors, strict=False) for i in pair]
    rest = learned[len(anchors):] + anchors[len(learned):]
    return list(dict.fromkeys([first, *interleaved, *rest]))[:k]


def diverse_top(candidates: Sequence[tuple[str, dict]], mean: np.ndarray, k: int,
                encoder: Callable[[str, dict], np.ndarray]) -> list[int]:
    """Indices of ``k`` high-scoring candidates, no two of a family near-copies.

    Greedy by predicted score; a candidate within :data:`MIN_DISTANCE` (RMS distance of
    ``encoder(family, params)`` vectors in [0, 1]) of one already taken from its family
    is passed over, and in a first pass no family takes more than ``ceil(k / 3)``
    places, so the list covers several families and regions. Places still empty are
    filled without the cap, then without the distance. Returned best first.
    """
    order = np.argsort(-np.asarray(mean), kind="stable")
    cap = max(1, math.ceil(k / 3))
    taken: list[int] = []
    encoded: dict[str, list[np.ndarray]] = {}
    for capped, spaced in ((True, True), (False, True), (False, False)):
        for i in order:
            if len(taken) == k:
                break
            if i in taken:
                continue
            family, params = candidates[i]
            vector = encoder(family, params)
            others = encoded.get(family, [])
            if capped and len(others) >= cap:
                continue
            if spaced and any(np.sqrt(np.mean((vector - o) ** 2)) < MIN_DISTANCE
                              for o in others):
                continue
            taken.append(int(i))
            encoded.setdefault(family, []).append(vector)
    return sorted(taken, key=lambda i: -mean[i])


def family_priors(family: str, task: str, ranked: Sequence[dict]) -> dict[str, Prior]:
    """Priors of one family from its candidates, best predicted first."""
    top = list(ranked[:max(5, math.ceil(PRIOR_QUANTILE * len(ranked)))])
    priors = {}
    for p in get_family(family).params(task):
        values = [c[p.name] for c in top if p.name in c]
        if not values:
            continue
        dist = p.distribution
        if isinstance(dist, CategoricalDistribution):
            counts = pd.Series(values).value_counts(sort=True)
            narrowed = CategoricalDistribution([c for c in dist.choices if c in counts.index])
        else:
            coords = [unit_coordinate(dist, v) for v in values]
            low, high = min(coords) - 0.1, max(coords) + 0.1
            low_value = dist.low if low <= 0 else value_from_unit(dist, low)
            high_value = dist.high if high >= 1 else value_from_unit(dist, high)
            if isinstance(dist, IntDistribution):
                narrowed = IntDistribution(low_value, max(high_value, low_value), log=dist.log)
            else:
                narrowed = FloatDistribution(low_value, max(high_value, low_value),
                                             log=dist.log)
        priors[p.name] = Prior(narrowed, dist, values[0])
    return priors


@cache
def _load_shipped(path: Path):
    from automl_meta.metalearner import MetaLearner

    return MetaLearner.load(path)


def shipped_learner():
    """The meta-learner shipped in the knowledge base (loaded once per process)."""
    from automl_meta.metalearner._learner import default_path

    return _load_shipped(default_path())


def _explain(families: pd.DataFrame, neighbours: pd.DataFrame) -> str:
    top = families.iloc[0]
    text = (f"{top['family']} ranks first (predicted normalised score "
            f"{top['predicted_score']:+.2f} ± {top['uncertainty']:.2f}")
    if len(families) > 1:
        second = families.iloc[1]
        text += f"; next {second['family']} at {second['predicted_score']:+.2f}"
    text += ")."
    if neighbours.empty:
        return text + " The knowledge base has no dataset of this task to compare with."
    near = ", ".join(f"{r.dataset} (best: {r.best_family})" for r in neighbours.itertuples())
    wins = int((neighbours["best_family"] == top["family"]).sum())
    return (f"{text} Nearest known datasets: {near}. {top['family']} was the best family "
            f"on {wins} of these {len(neighbours)}.")


def _describe(dist: BaseDistribution) -> dict:
    if isinstance(dist, CategoricalDistribution):
        return {"type": "categorical", "choices": list(dist.choices)}
    return {"type": "int" if isinstance(dist, IntDistribution) else "float",
            "low": dist.low, "high": dist.high, "log": dist.log}
