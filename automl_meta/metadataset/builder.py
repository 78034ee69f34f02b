"""Build (or extend) a meta-dataset: every family's design evaluated on every dataset.

The design of a family is its default configuration plus a scrambled Sobol sample of its
space (fixed seed), identical on every dataset so that the meta-learner sees the same
configurations across tasks. Work is ordered configuration-major (all datasets see
configuration 1 before any sees configuration 2), so a build stopped early is still a
balanced meta-dataset.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import qmc

from automl_meta._progress import progress_bar
from automl_meta.data import Dataset, target_fingerprint
from automl_meta.evaluation import evaluate
from automl_meta.exceptions import AutoMetaError, KnowledgeBaseError
from automl_meta.metadataset.sources import DatasetSpec
from automl_meta.metadataset.store import Store
from automl_meta.spaces import FAMILIES, default_params, from_unit, get_family


@dataclass(frozen=True)
class Protocol:
    """How every evaluation of a store is made; fixed for the life of a store.

    The defaults trade fidelity for cost so that ~270 datasets x 8 families x 24
    configurations (51,000 evaluations) take about three hours on two cores: at most
    1,000 rows (larger datasets are subsampled, stratified, with a fixed seed) and 2-fold
    CV, so every row is scored once, out of fold, as with more folds, at a quarter of the
    cost of 3 folds on 2,000 rows (measured: 10.7 h projected for that protocol, MLP and
    the gradient-boosting families dominating); a 30 s limit per evaluation. The price is
    training sets of 500 rows, which favour configurations that do well on small data,
    and noisier scores on large datasets; the meta-learner's targets are ranks within a
    dataset, which this noise disturbs less than raw scores.
    """

    n_configs: int = 24
    n_random: int = 0
    cv: int = 2
    max_rows: int = 1000
    time_limit: float = 30.0
    memory_limit_mb: int | None = 6144
    seed: int = 0

    def check(self) -> None:
        if self.n_configs < 1:
            raise AutoMetaError(f"n_configs must be >= 1, got {self.n_configs}")
        if self.n_random < 0:
            raise AutoMetaError(f"n_random must be >= 0, got {self.n_random}")
        if self.cv < 2:
            raise AutoMetaError(f"cv must be >= 2, got {self.cv}")
        if self.max_rows < 50:
            raise AutoMetaError(f"max_rows must be >= 50, got {self.max_rows}")
        if not self.time_limit > 0:
            raise AutoMetaError(f"time_limit must be positive, got {self.time_limit}")


def design(family: str, task: str, protocol: Protocol) -> list[tuple[int, dict, str]]:
    """(config_id, params, origin) of a family's design: default, Sobol, then random."""
    n_params = len(get_family(family).params(task))
    rows = [(0, default_params(family, task), "default")]
    seen = {json.dumps(rows[0][1], sort_keys=True)}
    n_sobol = protocol.n_configs - 1
    if n_sobol > 0:
        sobol = qmc.Sobol(n_params, scramble=True, seed=protocol.seed)
        points = sobol.random_base2(max(1, math.ceil(math.log2(n_sobol * 2))))
        for u in points:
            if len(rows) > n_sobol:
                break
            params = from_unit(family, task, u)
            key = json.dumps(params, sort_keys=True)
            if key not in seen:
                seen.add(key)
                rows.append((len(rows), params, "sobol"))
    rng = np.random.default_rng(protocol.seed + 1)
    for _ in range(protocol.n_random):
        rows.append((len(rows), from_unit(family, task, rng.random(n_params)), "random"))
    return rows


def data_fingerprint(ds: Dataset) -> str:
    """Identical for the same rows under another encoding of its categories."""
    columns = sorted(
        tuple(sorted(ds.X[c].value_counts(dropna=False).tolist())) for c in ds.X.columns
    )
    digest = pd.util.hash_pandas_object(pd.Series([repr(c) for c in columns]),
                                        index=False).sum()
    return f"{ds.n_rows}x{ds.n_features}:{target_fingerprint(ds.y, ds.task)}:{digest}"


def dataset_row(ds: Dataset, n_rows_used: int, fingerprint: str) -> dict:
    schema = ds.schema
    return {
        "name": ds.name, "source": ds.source, "openml_id": ds.openml_id, "task": ds.task,
        "n_rows": ds.n_rows, "n_features": ds.n_features, "n_classes": ds.n_classes,
        "n_numeric": len(schema.numeric), "n_categorical": len(schema.categorical),
        "missing_ratio": float(ds.X.isna().to_numpy().mean()), "n_rows_used": n_rows_used,
        "target_fingerprint": target_fingerprint(ds.y, ds.task),
        "data_fingerprint": fingerprint, "added_at": time.time(),
    }


@dataclass
class BuildSummary:
    """What a build did."""

    datasets: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why
    too_small: int = 0  # datasets left out by min_rows
    planned: int = 0
    done: int = 0
    failed_by_family: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    interrupted: bool = False
    remaining: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Task:
    dataset: str
    family: str
    config_id: int
    params: dict


class Builder:
    """Runs a build into a :class:`Store`.

    Parameters
    ----------
    store : the store to fill (resumes what it already holds).
    protocol : evaluation protocol; must match the one the store was started with.
    families : model families to evaluate (all by default).
    jobs : evaluations run at once on this machine (one worker process each).
    scheduler : address of a Dask distributed scheduler; evaluations then run there.
    metafeatures : compute the meta-features of datasets that lack them (False: evaluations
        only, e.g. on a second builder; a later run computes the missing ones).
    min_rows : only datasets with more rows than this (e.g. for a larger-sample extension
        of a knowledge base: ``max_rows`` above the base's, on the datasets it subsampled).
    """

    def __init__(
        self,
        store: Store,
        protocol: Protocol | None = None,
        families: list[str] | None = None,
        jobs: int = 1,
        scheduler: str | None = None,
        progress: bool = True,
        metafeatures: bool = True,
        min_rows: int = 0,
    ):
        self.store = store
        self.protocol = protocol or Protocol()
        self.protocol.check()
        self.families = list(families or FAMILIES)
        for name in self.families:
            get_family(name)
        if jobs < 1:
            raise AutoMetaError(f"jobs must be >= 1, got {jobs}")
        self.jobs = jobs
        self.scheduler = scheduler
        self.progress = progress
        self.metafeatures = metafeatures
        if min_rows < 0:
            raise AutoMetaError(f"min_rows must be >= 0, got {min_rows}")
        self.min_rows = min_rows
        self._stop = threading.Event()
        self._check_protocol()

    def _check_protocol(self) -> None:
        text = json.dumps(asdict(self.protocol), sort_keys=True)
        stored = self.store.get_meta("protocol")
        if stored is None:
            self.store.set_meta("protocol", text)
        elif stored != text:
            raise KnowledgeBaseError(
                f"store {self.store.path} was built with protocol {stored}; this build asks for "
                f"{text}. Use the same options or another store."
            )

    # -- preparing ----------------------------------------------------------------------

    def prepare(self, specs: list[DatasetSpec], summary: BuildSummary) -> dict[str, Dataset]:
        """Load datasets and register new ones; return their subsamples by name.

        Copies of the same rows (under another name or encoding) are built once: a copy
        already in the store wins, else the copy with the most categorical columns (a raw
        file over its integer-encoded version), else the first.
        """
        known = self.store.table("datasets")
        stored = dict(zip(known["data_fingerprint"], known["name"], strict=True))
        names = set(known["name"])
        with_metafeatures = set(self.store.table("metafeatures")["dataset"])
        loaded: list[tuple[Dataset, str | None]] = []
        bar = progress_bar(specs, desc="datasets", unit="ds", disable=not self.progress)
        for spec in bar:
            bar.set_postfix_str(spec.name[:30], refresh=False)
            try:
                ds = spec.load()
            except AutoMetaError as exc:
                summary.skipped[spec.name] = f"cannot load: {exc}"
                continue
            if ds.n_rows <= self.min_rows:
                summary.too_small += 1
                continue
            loaded.append((ds, None if ds.name in names else data_fingerprint(ds)))
        best: dict[str, Dataset] = {}
        for ds, fingerprint in loaded:
            if fingerprint is None or fingerprint in stored:
                continue
            kept = best.get(fingerprint)
            if kept is None or len(ds.schema.categorical) > len(kept.schema.categorical):
                best[fingerprint] = ds
        ready: dict[str, Dataset] = {}
        for ds, fingerprint in loaded:
            if fingerprint is not None:
                original = stored.get(fingerprint) or best[fingerprint].name
                if original != ds.name:
                    summary.skipped[ds.name] = f"same data as {original}"
                    continue
            used = ds.subsample(self.protocol.max_rows, seed=self.protocol.seed)
            if fingerprint is not None:
                self.store.add_dataset(dataset_row(ds, used.n_rows, fingerprint))
            if self.metafeatures and ds.name not in with_metafeatures:
                self._add_metafeatures(ds)
            ready[ds.name] = used
        summary.datasets = len(ready)
        return ready

    def _add_metafeatures(self, ds: Dataset) -> None:
        from automl_meta.metafeatures import MetaFeatureExtractor

        extractor = MetaFeatureExtractor(random_state=self.protocol.seed)
        start = time.perf_counter()
        values = extractor.extract(ds.X, ds.y, task=ds.task)
        self.store.add_metafeatures(ds.name, values.to_dict(), extractor.last_nan_reasons_,
                                    time.perf_counter() - start)

    def plan(self, datasets: dict[str, Dataset]) -> list[_Task]:
        """Evaluations not in the store yet, configuration-major, small datasets first."""
        designs = {}
        for task in sorted({ds.task for ds in datasets.values()}):
            for family in self.families:
                rows = design(family, task, self.protocol)
                self.store.add_configurations((family, task, i, p, o) for i, p, o in rows)
                designs[family, task] = rows
        finished = self.store.finished()
        order = sorted(datasets, key=lambda n: (datasets[n].n_rows * datasets[n].n_features, n))
        n_configs = max(len(rows) for rows in designs.values()) if designs else 0
        tasks = []
        for config_id in range(n_configs):
            for name in order:
                for family in self.families:
                    rows = designs[family, datasets[name].task]
                    if config_id < len(rows) and (name, family, config_id) not in finished:
                        tasks.append(_Task(name, family, config_id, rows[config_id][1]))
        return tasks

    # -- running ------------------------------------------------------------------------

    def run(self, specs: list[DatasetSpec], dry_run: bool = False,
            on_plan: Callable[[list[_Task]], None] | None = None) -> BuildSummary:
        """Prepare, plan and run the missing evaluations; Ctrl-C or SIGTERM stops cleanly."""
        summary = BuildSummary()
        start = time.perf_counter()
        datasets = self.prepare(specs, summary)
        tasks = self.plan(datasets)
        summary.planned = len(tasks)
        if on_plan is not None:
            on_plan(tasks)
        if dry_run or not tasks:
            summary.remaining = len(tasks)
            return summary
        failed: Counter = Counter()
        previous = signal.getsignal(signal.SIGTERM)
        in_main = threading.current_thread() is threading.main_thread()
        if in_main:
            signal.signal(signal.SIGTERM, _raise_interrupt)
        bar = progress_bar(total=len(tasks), desc="evaluations", unit="eval",
                           disable=not self.progress)
        try:
            runner = self._run_dask if self.scheduler else self._run_local
            for task, result in runner(tasks, datasets):
                if self.store.write_evaluation(task.dataset, task.config_id, result,
                                               self.protocol.cv):
                    summary.done += 1
                    if result.status != "ok":
                        failed[task.family] += 1
                bar.set_postfix(failed=sum(failed.values()), refresh=False)
                bar.update()
        except KeyboardInterrupt:
            summary.interrupted = True
            self._stop.set()
        finally:
            bar.close()
            if in_main:
                signal.signal(signal.SIGTERM, previous)
        summary.failed_by_family = dict(failed)
        summary.remaining = len(self.plan(datasets)) if summary.interrupted else max(
            0, len(tasks) - summary.done)
        summary.seconds = time.perf_counter() - start
        return summary

    def _evaluate(self, task: _Task, ds: Dataset):
        return evaluate(task.family, task.params, ds, cv=self.protocol.cv,
                        seed=self.protocol.seed, time_limit=self.protocol.time_limit,
                        memory_limit_mb=self.protocol.memory_limit_mb)

    def _lease(self) -> float:
        return self.protocol.time_limit * 2 + 60

    def _run_local(self, tasks: list[_Task], datasets: dict[str, Dataset]) -> Iterator:
        def work(task: _Task):
            if self._stop.is_set() or not self.store.claim(
                    task.dataset, task.family, task.config_id, self._lease()):
                return task, None
            result = self._evaluate(task, datasets[task.dataset])
            if self._stop.is_set():  # interrupted mid-way: not a real outcome
                self.store.release(task.dataset, task.family, task.config_id)
                return task, None
            return task, result

        pool = ThreadPoolExecutor(self.jobs)
        pending: set[Future] = set()
        queue = iter(tasks)
        try:
            while True:
                while len(pending) < self.jobs * 2:
                    task = next(queue, None)
                    if task is None:
                        break
                    pending.add(pool.submit(work, task))
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task, result = future.result()
                    if result is not None:
                        yield task, result
        finally:
            self._stop.set()
            pool.shutdown(wait=True, cancel_futures=True)

    def _run_dask(self, tasks: list[_Task], datasets: dict[str, Dataset]) -> Iterator:
        from distributed import Client, as_completed

        with Client(self.scheduler) as client:
            n_slots = max(1, sum(client.nthreads().values())) * 2
            scattered: dict[str, Future] = {}
            inflight: dict = {}  # dask future -> task
            queue = iter(tasks)

            def submit():
                for task in queue:
                    if self.store.claim(task.dataset, task.family, task.config_id,
                                        self._lease()):
                        if task.dataset not in scattered:
                            scattered[task.dataset] = client.scatter(datasets[task.dataset])
                        future = client.submit(
                            evaluate, task.family, task.params, scattered[task.dataset],
                            cv=self.protocol.cv, seed=self.protocol.seed,
                            time_limit=self.protocol.time_limit,
                            memory_limit_mb=self.protocol.memory_limit_mb, pure=False)
                        inflight[future] = task
                        return future
                return None

            running = as_completed([f for f in (submit() for _ in range(n_slots)) if f])
            try:
                for future in running:
                    task = inflight.pop(future)
                    yield task, future.result()
                    nxt = submit()
                    if nxt is not None:
                        running.add(nxt)
            finally:
                for future, task in inflight.items():
                    future.cancel()
                    self.store.release(task.dataset, task.family, task.config_id)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt
