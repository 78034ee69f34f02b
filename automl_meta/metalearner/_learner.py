"""The public :class:`MetaLearner`: fit, predict, adapt, save and load."""

from __future__ import annotations

import copy
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from optuna.distributions import distribution_to_json, json_to_distribution
from safetensors.torch import load_file, save_file
from sklearn.exceptions import NotFittedError

from automl_meta.data import TASKS
from automl_meta.evaluation.metrics import get_metric
from automl_meta.exceptions import (
    DataValidationError,
    KnowledgeBaseError,
    KnowledgeBaseVersionError,
)
from automl_meta.metafeatures import MetaFeatureNormalizer
from automl_meta.metalearner import DEFAULT_METHOD, DEFAULT_STEPS, METHODS, _training
from automl_meta.metalearner._encoding import (
    Slot,
    encode_configs,
    slot_layout,
    slot_width,
    trial_table,
)
from automl_meta.metalearner._network import Architecture, forward, init_params
from automl_meta.spaces import FAMILIES, get_family

_FORMAT = "automl_meta.MetaLearner"
_FORMAT_VERSION = 1
_WEIGHTS, _CONFIG = "weights.safetensors", "config.json"


class MetaLearner:
    """A surrogate of how well a configuration does on a dataset, meta-learned across many.

    The network maps (task embedding, model family, encoded hyperparameters) to a
    *normalised score*: the rank-based normal score of the configuration's loss among
    all configurations evaluated on the dataset, higher is better, so that ROC AUC and
    RMSE datasets share one scale. The task embedding is the dataset's normalised
    meta-features plus a task bit; hyperparameters are :func:`automl_meta.spaces.encode`
    vectors padded into one slot per family. An ensemble of ``n_members`` networks,
    each trained on its own bootstrap weights of the trials, gives the uncertainty
    (their standard deviation) that acquisition functions need.

    Meta-training (:meth:`fit`) treats each dataset as a task: ``"reptile"`` (first
    order), ``"maml"`` (second order, through the very adaptation :meth:`adapt` runs) or
    ``"joint"`` (all trials pooled, the ablation). On a new dataset the learner predicts
    zero-shot from the embedding alone, and :meth:`adapt` takes a few gradient steps on
    the trials observed there.

    Parameters
    ----------
    method : {"reptile", "maml", "joint"}, default "joint"
        Meta-training algorithm. Joint training ranked best on held-out datasets
        (benchmarks/results/metalearner.md), so it is the default and what ships.
    steps : int or None, default None
        Optimisation steps of :meth:`fit` (meta-steps for Reptile and MAML); None: a
        per-method default that takes about a minute on two CPU cores. 0 leaves the
        network at its random initialisation (a "from scratch" surrogate).
    n_members : int, default 5
        Ensemble size.
    hidden_size, task_size, family_size : int
        Widths of the hidden layers, of the task encoder and of the family embedding.
    adapt_steps : int, default 5
        SGD steps of :meth:`adapt` (and of MAML's inner loop).
    adapt_lr : float, default 0.3
        Step size of :meth:`adapt`.
    seed : int, default 0
        Seeds initialisation, bootstrap weights and task sampling: on CPU, the same seed
        gives the same weights.
    device : str, torch.device or None, default None
        Where to compute: None picks CUDA when available, else the CPU.

    Attributes
    ----------
    families_ : list of str
        Model families the learner knows, in the order of its family embedding.
    normalizer_ : MetaFeatureNormalizer
        Turns raw meta-features into the embedding.
    feature_names_ : list of str
        Names of the embedding's entries (before the task bit).
    fidelity_ : dict or None
        When the knowledge base evaluated some datasets on several sample sizes
        (:meth:`KnowledgeBase.extend`), the number of rows a configuration is evaluated on
        is an input (``log_rows``, standardised; ``max_rows``: the largest sample seen,
        larger ones are predicted as that size): predictions are for a given number of
        rows, by default the dataset's. None: trained on one sample size per dataset.
    training_datasets_ : list of str
        Datasets it was meta-trained on.

    Examples
    --------
    >>> from automl_meta import KnowledgeBase
    >>> from automl_meta.metalearner import MetaLearner
    >>> learner = MetaLearner(method="reptile").fit(KnowledgeBase.load())  # doctest: +SKIP
    >>> mean, std = learner.predict(metafeatures, "lightgbm", [params],
    ...                             task="classification")  # doctest: +SKIP
    >>> adapted = learner.adapt(metafeatures, [("lightgbm", params, 0.91)],
    ...                         task="classification")  # doctest: +SKIP
    """

    def __init__(self, method: str = DEFAULT_METHOD, *, steps: int | None = None,
                 n_members: int = 5, hidden_size: int = 128, task_size: int = 32,
                 family_size: int = 8, adapt_steps: int = 5, adapt_lr: float = 0.3,
                 seed: int = 0, device: str | torch.device | None = None) -> None:
        self.method = method
        self.steps = steps
        self.n_members = n_members
        self.hidden_size = hidden_size
        self.task_size = task_size
        self.family_size = family_size
        self.adapt_steps = adapt_steps
        self.adapt_lr = adapt_lr
        self.seed = seed
        self.device = device

    # -- training -----------------------------------------------------------------------

    def fit(self, knowledge_base, datasets: Sequence[str] | None = None,
            callback: _training.Callback | None = None) -> MetaLearner:
        """Meta-train on a knowledge base.

        Parameters
        ----------
        knowledge_base : KnowledgeBase
            Needs meta-features for the datasets to learn from and their evaluations.
        datasets : sequence of str or None, default None
            Train only on these datasets (e.g. the training folds of a benchmark); None:
            every dataset with meta-features.
        callback : callable or None
            ``callback(step, n_steps, loss)`` after each step, e.g. to drive a progress bar.

        Returns
        -------
        MetaLearner
            ``self``.

        Raises
        ------
        KnowledgeBaseError
            No dataset with meta-features and at least two distinct successful scores.
        DataValidationError
            Not a knowledge base, or invalid ``method``, ``steps`` or sizes.
        """
        from automl_meta.metadataset.knowledge_base import KnowledgeBase

        if not isinstance(knowledge_base, KnowledgeBase):
            raise DataValidationError(
                "knowledge_base must be a KnowledgeBase (KnowledgeBase.load, from_store or "
                f"from_frame), got {type(knowledge_base).__name__}")
        self._check_settings()
        device = _device(self.device)  # fails early on a bad device name
        metafeatures = knowledge_base.metafeatures.drop_duplicates("dataset", keep="last")
        if metafeatures.empty and not knowledge_base.evaluations.empty:
            raise KnowledgeBaseError(
                "the knowledge base has evaluations but no meta-features: run 'automl-meta "
                "build' again without --no-metafeatures to compute them")
        names = set(metafeatures["dataset"])
        if datasets is not None:
            names &= set(datasets)
        custom = _custom_spaces(knowledge_base)
        present = set(knowledge_base.configurations["family"])
        families = [*(f for f in FAMILIES if f in present), *sorted(custom)]
        if not families:
            raise KnowledgeBaseError(
                "nothing to learn from: the knowledge base holds no configurations")
        slots = slot_layout(families, custom)
        table = trial_table(knowledge_base.scores(), slots, families, sorted(names), custom)
        if not table.datasets:
            raise KnowledgeBaseError(
                "nothing to learn from: no dataset has both meta-features and two distinct "
                "successful scores (an empty or meta-feature-less knowledge base?)")
        raw = metafeatures.set_index("dataset")
        normalizer = MetaFeatureNormalizer().fit(raw.loc[sorted(set(table.datasets))])
        fidelity = _fidelity(table.datasets, table.rows)
        embeddings = _with_task_bit(_with_rows(normalizer.transform(raw.loc[table.datasets]),
                                               table.rows, fidelity), table.tasks)
        arch = Architecture(embedding_size=embeddings.shape[1], n_families=len(families),
                            slot_width=slot_width(slots), task_size=self.task_size,
                            family_size=self.family_size, hidden_size=self.hidden_size,
                            n_members=self.n_members)
        settings = _training.Settings(
            steps=DEFAULT_STEPS[self.method] if self.steps is None else self.steps,
            adapt_steps=self.adapt_steps, adapt_lr=self.adapt_lr)
        generator = torch.Generator().manual_seed(self.seed)
        data = _training.Tensors(
            embeddings=torch.as_tensor(embeddings, device=device),
            task_index=torch.as_tensor(table.task_index, device=device),
            family=torch.as_tensor(table.family_index, device=device),
            hyperparameters=torch.as_tensor(table.hyperparameters, device=device),
            losses=torch.as_tensor(table.losses, dtype=torch.float32, device=device),
            targets=torch.as_tensor(table.targets, device=device),
            weights=torch.poisson(torch.ones(self.n_members, len(table.losses)),
                                  generator=generator).to(device),
            rows=table.rows_of(),
        )
        params = init_params(arch, self.seed, device)
        self.params_ = _training.train(self.method, params, data, settings, self.seed,
                                       callback)
        self.architecture_ = arch
        self.families_ = families
        self.custom_spaces_ = custom
        self.slots_ = slots
        self.normalizer_ = normalizer
        self.feature_names_ = [*normalizer.output_names_, *([ROWS_FEATURE] if fidelity else [])]
        self.fidelity_ = fidelity
        self.training_datasets_ = sorted(set(table.datasets))
        self.n_trials_ = len(table.losses)
        self.device_ = device
        return self

    def _check_settings(self) -> None:
        if self.method not in METHODS:
            raise DataValidationError(f"method must be one of {METHODS}, got {self.method!r}")
        for name in ("n_members", "hidden_size", "task_size", "family_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise DataValidationError(f"{name} must be a positive integer, got {value!r}")
        for name in ("steps", "adapt_steps"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise DataValidationError(f"{name} must be an integer >= 0, got {value!r}")
        if not self.adapt_lr > 0:
            raise DataValidationError(f"adapt_lr must be positive, got {self.adapt_lr!r}")

    # -- prediction ---------------------------------------------------------------------

    def embed(self, task_features: pd.Series | np.ndarray, task: str,
              rows: float | None = None) -> np.ndarray:
        """The task embedding given to the network (normalised meta-features + task bit).

        ``task_features`` is either the raw meta-features of a dataset (a Series from
        :meth:`MetaFeatureExtractor.extract`, matched by name) or an already normalised
        embedding: an array of ``len(feature_names_)`` floats. ``rows``: predict for
        configurations evaluated on this many rows; None: the dataset's ``n_instances``.
        Only a learner with a ``fidelity_`` uses it.
        """
        self._check_fitted()
        _check_task(task)
        check_rows(rows)
        if isinstance(task_features, pd.Series):
            vector = self.normalizer_.transform(task_features)
            if self.fidelity_ is not None:
                if rows is None:
                    rows = task_features.get("n_instances")
                    if rows is None or not np.isfinite(rows) or rows < 1:
                        raise DataValidationError(
                            "the meta-features lack n_instances: pass rows, the number of "
                            "rows to predict for")
                vector = _with_rows(vector[None, :], [float(rows)], self.fidelity_)[0]
        else:
            vector = np.asarray(task_features, dtype=np.float32)
            if vector.shape != (len(self.feature_names_),):
                raise DataValidationError(
                    f"a task embedding must be a vector of {len(self.feature_names_)} "
                    f"normalised meta-features, got shape {vector.shape}; pass raw "
                    "meta-features as a pandas Series instead")
            if not np.isfinite(vector).all():
                raise DataValidationError("the task embedding contains NaN or infinity")
            if rows is not None and self.fidelity_ is not None:
                vector = _with_rows(vector[None, :-1], [float(rows)], self.fidelity_)[0]
        return _with_task_bit(vector[None, :], [task])[0]

    def predict(self, task_features: pd.Series | np.ndarray, family: str | Sequence[str],
                params_list: Sequence[Mapping], *, task: str,
                rows: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Predicted normalised scores of configurations on a dataset (higher is better).

        Parameters
        ----------
        task_features : pandas.Series or numpy.ndarray
            Raw meta-features or a normalised embedding (see :meth:`embed`).
        family : str or sequence of str
            One family for all configurations, or one per configuration.
        params_list : sequence of dict
            Configurations, each within its family's search space.
        task : {"classification", "regression"}
        rows : float or None
            Predict for this many rows (see :meth:`embed`); None: the dataset's.

        Returns
        -------
        mean, std : numpy.ndarray of shape (len(params_list),)
            Ensemble mean and standard deviation.
        """
        return self._predict_encoded(*self._inputs(task_features, family, params_list, task,
                                                   rows))

    def _predict_encoded(self, embedding, family_index, hyperparameters
                         ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict` on inputs already encoded (:meth:`_encode`)."""
        device = self.device_
        with torch.no_grad(), _training.single_thread():
            scores = forward(self.params_, torch.as_tensor(embedding, device=device),
                             torch.as_tensor(family_index, device=device),
                             torch.as_tensor(hyperparameters, device=device))
        return scores.mean(0).cpu().numpy(), scores.std(0, correction=0).cpu().numpy()

    def adapt(self, task_features: pd.Series | np.ndarray, trials, *, task: str,
              metric: str | None = None, steps: int | None = None,
              lr: float | None = None, rows: float | None = None) -> MetaLearner:
        """A copy of the learner adapted to the trials observed on one dataset.

        A few SGD steps on a pairwise ranking loss of the observed trials, starting from
        the meta-learned weights; ``self`` is left unchanged, so each call adapts afresh
        from the meta-learned initialisation (as Reptile and MAML intend). Fewer than two
        distinct scores carry no ranking information: the copy then predicts zero-shot.
        Beyond 128 trials each step fits a seeded random subset of 128 of them
        (:data:`~automl_meta.metalearner._training.MAX_TRIALS`), so that an adaptation
        costs about the same at any number of trials.

        Parameters
        ----------
        task_features : pandas.Series or numpy.ndarray
            Raw meta-features or a normalised embedding (see :meth:`embed`).
        trials : DataFrame or sequence of (family, params, score)
            A DataFrame needs columns ``family``, ``params`` (dict or JSON) and either
            ``score`` (the raw value of ``metric``) or ``loss`` (lower is better, e.g. an
            Optuna study's values oriented by its direction).
        task : {"classification", "regression"}
        metric : str or None
            Metric of the scores; None: the task's default (ROC AUC, RMSE).
        steps, lr : int and float or None
            Override ``adapt_steps`` and ``adapt_lr``.
        rows : float or None
            The trials were evaluated on this many rows (see :meth:`embed`); None: the
            dataset's.

        Returns
        -------
        MetaLearner
        """
        _check_task(task)
        families, params_list, scores, is_loss = _trial_columns(trials)
        losses = scores if is_loss else get_metric(metric, task).loss(scores)
        if not np.isfinite(losses).all():
            raise DataValidationError("trial scores must be finite numbers")
        return self._adapt_encoded(*self._inputs(task_features, families, params_list, task,
                                                 rows), losses, steps, lr)

    def _adapt_encoded(self, embedding, family_index, hyperparameters, losses: np.ndarray,
                       steps: int | None = None, lr: float | None = None) -> MetaLearner:
        """:meth:`adapt` on inputs already encoded (:meth:`_encode`) and losses."""
        adapted = copy.copy(self)
        steps = self.adapt_steps if steps is None else steps
        if np.unique(losses).size < 2 or steps == 0:
            return adapted
        device = self.device_
        with _training.single_thread():
            params = _training.adapt(
                self.params_, torch.as_tensor(embedding, device=device),
                torch.as_tensor(family_index, device=device),
                torch.as_tensor(hyperparameters, device=device),
                torch.as_tensor(losses, dtype=torch.float32, device=device), steps,
                self.adapt_lr if lr is None else lr)
        adapted.params_ = {k: v.detach() for k, v in params.items()}
        return adapted

    def _inputs(self, task_features, family, params_list, task, rows=None):
        self._check_fitted()
        embedding = self.embed(task_features, task, rows)
        if isinstance(params_list, Mapping):
            raise DataValidationError("params_list must be a sequence of dicts, got one dict")
        families = [family] * len(params_list) if isinstance(family, str) else list(family)
        if len(families) != len(params_list):
            raise DataValidationError(f"{len(families)} families for {len(params_list)} "
                                      "configurations")
        return (embedding, *self._encode(families, params_list, task))

    def _encode(self, families: Sequence[str], params_list: Sequence[Mapping], task: str
                ) -> tuple[np.ndarray, np.ndarray]:
        """Family indices and padded hyperparameter vectors of configurations (checked
        against their spaces); what :meth:`_predict_encoded` and :meth:`_adapt_encoded`
        take, so that callers scoring the same candidates again encode them once."""
        index = {f: i for i, f in enumerate(self.families_)}
        for name in set(families):
            if name not in self.custom_spaces_:
                get_family(name)  # an UnknownFamilyError names the known families
        hyperparameters = np.zeros((len(params_list), slot_width(self.slots_)), np.float32)
        for name in set(families):
            rows = [i for i, f in enumerate(families) if f == name]
            hyperparameters[rows] = encode_configs(self.slots_, task, name,
                                                   [params_list[i] for i in rows],
                                                   self.custom_spaces_)
        return np.asarray([index[f] for f in families], dtype=np.int64), hyperparameters

    def _check_fitted(self) -> None:
        if not hasattr(self, "params_"):
            raise NotFittedError("this MetaLearner is not fitted; call fit or load first")

    # -- persistence --------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``weights.safetensors`` (plain tensors) and ``config.json`` into ``path``.

        Nothing is pickled: :meth:`load` reads tensors and JSON only. Both files are
        written to temporary names first, so an interrupted save leaves any earlier
        learner in ``path`` intact.
        """
        self._check_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        config = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "constructor": {"method": self.method, "steps": self.steps,
                            "n_members": self.n_members, "hidden_size": self.hidden_size,
                            "task_size": self.task_size, "family_size": self.family_size,
                            "adapt_steps": self.adapt_steps, "adapt_lr": self.adapt_lr,
                            "seed": self.seed},
            "architecture": self.architecture_.to_dict(),
            "families": self.families_,
            "custom_spaces": {f: {n: distribution_to_json(d) for n, d in space.items()}
                              for f, space in self.custom_spaces_.items()},
            "slots": [asdict(s) for s in self.slots_],
            "feature_names": self.feature_names_,
            "fidelity": self.fidelity_,
            "normalizer": self.normalizer_.to_dict(),
            "training": {"datasets": self.training_datasets_, "n_trials": self.n_trials_},
            "versions": _versions(),
        }
        tensors = {k: v.detach().cpu().contiguous() for k, v in self.params_.items()}
        with tempfile.TemporaryDirectory(dir=folder, prefix=".tmp-") as tmp:
            save_file(tensors, Path(tmp) / _WEIGHTS)
            (Path(tmp) / _CONFIG).write_text(json.dumps(config, indent=2) + "\n")
            os.replace(Path(tmp) / _WEIGHTS, folder / _WEIGHTS)
            os.replace(Path(tmp) / _CONFIG, folder / _CONFIG)
        return folder

    @classmethod
    def load(cls, path: str | os.PathLike | None = None,
             device: str | torch.device | None = None) -> MetaLearner:
        """Read a learner written by :meth:`save` (None: the one shipped in the knowledge
        base, ``metadata/metalearner``).

        Raises
        ------
        KnowledgeBaseError
            Missing or corrupt files.
        KnowledgeBaseVersionError
            Another format version, or search spaces that changed since it was saved.
        """
        folder = Path(path) if path is not None else default_path()
        try:
            config = json.loads((folder / _CONFIG).read_text())
        except (OSError, ValueError) as exc:
            raise KnowledgeBaseError(f"no readable meta-learner config in {folder}: {exc}") \
                from exc
        if not isinstance(config, dict) or config.get("format") != _FORMAT:
            raise KnowledgeBaseError(f"{folder / _CONFIG} is not a saved MetaLearner")
        if config.get("format_version") != _FORMAT_VERSION:
            raise KnowledgeBaseVersionError(
                f"meta-learner in {folder} has format {config.get('format_version')}, this "
                f"automl_meta reads {_FORMAT_VERSION}; retrain it with 'automl-meta train'")
        try:
            slots = [Slot(**s) for s in config["slots"]]
            custom = {f: {n: json_to_distribution(d) for n, d in space.items()}
                      for f, space in config.get("custom_spaces", {}).items()}
            families = list(config["families"])
            learner = cls(**config["constructor"], device=device)
            arch = Architecture(**config["architecture"])
            normalizer = MetaFeatureNormalizer.from_dict(config["normalizer"])
            feature_names = list(config["feature_names"])
            fidelity = config.get("fidelity")
            if fidelity is not None:
                fidelity = {k: float(fidelity[k]) for k in ("max_rows", "mean", "std")}
            training_datasets = list(config["training"]["datasets"])
            n_trials = int(config["training"]["n_trials"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise KnowledgeBaseError(f"{folder / _CONFIG} is corrupt: {type(exc).__name__}: "
                                     f"{exc}") from exc
        if slots != slot_layout(families, custom):
            raise KnowledgeBaseVersionError(
                f"meta-learner in {folder} was trained on other search spaces than this "
                "automl_meta defines; retrain it with 'automl-meta train'")
        learner.device_ = _device(device)
        try:
            tensors = load_file(folder / _WEIGHTS, device=str(learner.device_))
        except Exception as exc:  # noqa: BLE001 - safetensors raises several types
            raise KnowledgeBaseError(f"cannot read {folder / _WEIGHTS}: {exc}") from exc
        expected = init_params(arch, 0, torch.device("cpu"))
        if {k: tuple(v.shape) for k, v in tensors.items()} != {
                k: tuple(v.shape) for k, v in expected.items()}:
            raise KnowledgeBaseError(f"{folder / _WEIGHTS} does not match its architecture")
        learner.params_ = tensors
        learner.architecture_ = arch
        learner.families_ = families
        learner.custom_spaces_ = custom
        learner.slots_ = slots
        learner.normalizer_ = normalizer
        learner.feature_names_ = feature_names
        learner.fidelity_ = fidelity
        learner.training_datasets_ = training_datasets
        learner.n_trials_ = n_trials
        return learner


def _device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DataValidationError(f"not a torch device: {device!r} ({exc})") from exc


def check_rows(rows) -> None:
    """``rows`` (the sample size to predict for) is None or a number >= 1."""
    if rows is not None and not (isinstance(rows, (int, float, np.number))
                                 and not isinstance(rows, bool) and rows >= 1):
        raise DataValidationError(f"rows must be a number >= 1, got {rows!r}")


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise DataValidationError(f"task must be one of {TASKS}, got {task!r}")


#: Name of the embedding entry that says how many rows a configuration is evaluated on.
ROWS_FEATURE = "log_rows"


def _fidelity(datasets: Sequence[str], rows: Sequence[float]) -> dict | None:
    """How the rows a task was evaluated on enter the embedding (:func:`_with_rows`), or
    None when no dataset was evaluated on two sample sizes: the meta-features then say
    all there is about size."""
    sizes = np.asarray(rows, dtype=float)
    if len(set(datasets)) == len(datasets) or not np.isfinite(sizes).all():
        return None
    logs = np.log(sizes)
    return {"max_rows": float(sizes.max()), "mean": float(logs.mean()),
            "std": float(max(logs.std(), 1e-6))}


def _with_rows(vectors: np.ndarray, rows: Sequence[float], fidelity: dict | None
               ) -> np.ndarray:
    """Append the standardised log of the rows (at most the largest sample trained on)."""
    if fidelity is None:
        return vectors
    column = (np.log(np.minimum(np.asarray(rows, dtype=float), fidelity["max_rows"]))
              - fidelity["mean"]) / fidelity["std"]
    return np.hstack([vectors.astype(np.float32), column[:, None].astype(np.float32)])


def _with_task_bit(vectors: np.ndarray, tasks: Sequence[str]) -> np.ndarray:
    bit = np.asarray([[float(t == "regression")] for t in tasks], dtype=np.float32)
    return np.hstack([vectors.astype(np.float32), bit])


def _trial_columns(trials) -> tuple[list[str], list[dict], np.ndarray, bool]:
    is_loss = isinstance(trials, pd.DataFrame) and "loss" in trials.columns
    if isinstance(trials, pd.DataFrame):
        value = "loss" if is_loss else "score"
        missing = [c for c in ("family", "params", value) if c not in trials.columns]
        if missing:
            raise DataValidationError(f"trials lack columns {missing}")
        rows = list(zip(trials["family"], trials["params"], trials[value], strict=True))
    else:
        rows = list(trials)
        if any(not isinstance(r, Sequence) or len(r) != 3 for r in rows):
            raise DataValidationError("trials must be (family, params, score) triples")
    if not rows:
        raise DataValidationError("adapt needs at least one observed trial")
    try:
        params = [json.loads(p) if isinstance(p, str) else p for _, p, _ in rows]
    except ValueError as exc:
        raise DataValidationError(f"trial params must be dicts or JSON objects: {exc}") from exc
    try:
        scores = np.asarray([s for _, _, s in rows], dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataValidationError(f"trial scores must be numbers: {exc}") from exc
    return [f for f, _, _ in rows], params, scores, is_loss


def default_path() -> Path:
    """Where the shipped meta-learner is: ``metalearner/`` in the default knowledge base."""
    from automl_meta.metadataset.knowledge_base import default_path as kb_path

    return kb_path() / "metalearner"


def _custom_spaces(knowledge_base) -> dict:
    from automl_meta.metadataset.knowledge_base import custom_spaces

    spaces = custom_spaces(knowledge_base)
    unknown = set(knowledge_base.configurations["family"]) - set(FAMILIES) - set(spaces)
    if unknown:
        raise KnowledgeBaseError(
            f"the knowledge base has configurations of families {sorted(unknown)} that are "
            "neither built in nor imported with a search space (KnowledgeBase.from_frame)")
    return spaces


def _versions() -> dict[str, str]:
    import safetensors

    from automl_meta import __version__

    return {"automl_meta": __version__, "torch": torch.__version__,
            "safetensors": safetensors.__version__, "numpy": np.__version__}
