"""Faults: builds and studies killed at random moments, read-only stores, full disks, trials
that raise or run out of memory, no network, and loaders that never unpickle."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path

import joblib
import numpy as np
import optuna
import pytest
from conftest import mixed_frame, mixed_target
from corpus import PROTOCOL, build_command, expected_evaluations, n_evaluations, write_corpus
from sklearn.base import BaseEstimator, ClassifierMixin

import automl_meta.estimators as estimators
import automl_meta.evaluation as evaluation
from automl_meta import AutoMetaClassifier, KnowledgeBase, MetaLearner
from automl_meta.cli import EXIT_USAGE, main
from automl_meta.evaluation import EvaluationResult
from automl_meta.metadataset import Store
from automl_meta.metadataset.builder import Protocol
from automl_meta.metadataset.knowledge_base import default_path

TESTS = Path(__file__).resolve().parent
TrialState = optuna.trial.TrialState


def _run_and_kill(command: list[str], ready: Callable[[], bool], pause: float) -> None:
    """Start ``command``, wait until ``ready()`` (or its end), ``pause`` seconds more, and
    SIGKILL it."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while proc.poll() is None and not ready() and time.monotonic() < deadline:
            time.sleep(0.05)  # polling a file the process writes, not synchronisation
        time.sleep(pause)
    finally:
        proc.kill()
        proc.wait()


def _has_evaluations(store: Path, n: int) -> bool:
    return store.exists() and n_evaluations(store)[0] >= n


def _rows(store: Path, table: str) -> set[tuple]:
    """Every row of a store table ({} before the builder has made its tables)."""
    with sqlite3.connect(store) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone():
            return set()
        return set(conn.execute(f"SELECT * FROM {table}"))


def _check_complete(store: Path) -> None:
    """Every evaluation has all its folds, none twice, and SQLite finds no damage."""
    distinct, rows = n_evaluations(store)
    assert rows == distinct * PROTOCOL.cv
    with sqlite3.connect(store) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


# ---------------------------------------------------------------------------------------
# A build killed again and again

KILLS = 6


def test_build_killed_at_random_moments_resumes_with_nothing_lost_or_duplicated(tmp_path):
    # 80 evaluations: an uninterrupted build of 48 takes 2.4 to 4.1 s, short enough for
    # six kills at the pauses below to let it finish and leave nothing to resume.
    n_datasets = 10
    manifest = write_corpus(tmp_path, n_datasets=n_datasets)
    store = tmp_path / "store.sqlite"
    command = build_command(manifest, store, "--jobs", "2")
    expected = expected_evaluations(manifest)
    rng = random.Random(8)
    written: set[tuple] = set()
    for _ in range(KILLS):
        # A seeded random moment: during start-up, loading and meta-features (a pause
        # after the start), or among fits, claims and writes (a pause after a few more
        # evaluations).
        more = rng.randint(0, 3)
        pause = rng.uniform(0.0, 1.5) if more == 0 else rng.uniform(0.0, 0.3)
        before = n_evaluations(store)[0] if store.exists() else 0
        _run_and_kill(command, partial(_has_evaluations, store, before + more), pause)
        rows = _rows(store, "evaluations")
        assert written <= rows  # every row written before is still there, unchanged
        _check_complete(store)
        written = rows
    distinct = n_evaluations(store)[0]
    assert distinct < expected  # the kills left work to do
    out = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    assert f"ran {expected - distinct} of {expected - distinct} evaluations" in out.stdout
    assert written <= _rows(store, "evaluations")
    assert n_evaluations(store) == (expected, expected * PROTOCOL.cv)
    _check_complete(store)
    assert len(_rows(store, "metafeatures")) == len(_rows(store, "datasets")) == n_datasets


# ---------------------------------------------------------------------------------------
# A study killed again and again

STUDY = "resumed"
FIT_SCRIPT = f"""
import json, sys
import pandas as pd
from automl_meta import AutoMetaClassifier

data = pd.read_csv(sys.argv[1])
model = AutoMetaClassifier(n_trials=int(sys.argv[3]), time_budget=None, cv=2,
                           families=["linear", "lightgbm"], knowledge_base=False,
                           random_state=0, storage=sys.argv[2], study_name={STUDY!r})
model.fit(data.drop(columns="target"), data["target"])
print(json.dumps(model.leaderboard_["trial"].tolist()))
"""


def _trials(storage: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=STUDY, storage=storage).trials


def _n_complete(db: Path) -> int:
    with sqlite3.connect(db, timeout=30) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'trials'").fetchone():
            return 0
        return conn.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]


def _has_complete(db: Path, n: int) -> bool:
    return db.exists() and _n_complete(db) >= n


def test_study_killed_at_random_moments_resumes_with_nothing_lost_or_duplicated(tmp_path):
    data = tmp_path / "data.csv"
    X = mixed_frame(60)
    X.assign(target=mixed_target(X, "classification")).to_csv(data, index=False)
    db = tmp_path / "study.db"
    storage = f"sqlite:///{db}"
    command = [sys.executable, "-c", FIT_SCRIPT, str(data), storage]
    rng = random.Random(3)
    complete: dict[int, tuple] = {}
    orphans: set[int] = set()
    for _ in range(KILLS):  # each time at a random moment once the search is under way
        before = _n_complete(db) if db.exists() else 0
        _run_and_kill([*command, "100000"], partial(_has_complete, db, before + 1),
                      pause=rng.uniform(0.0, 1.0))
        trials = _trials(storage)
        now = {t.number: (t.value, t.params) for t in trials if t.state == TrialState.COMPLETE}
        assert {n: now[n] for n in complete} == complete  # completed trials are kept as they were
        complete = now
        orphans |= {t.number for t in trials if t.state == TrialState.RUNNING}
    assert orphans, "no kill landed inside a trial"
    out = subprocess.run([*command, "3"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    trials = _trials(storage)
    by_number = {t.number: t for t in trials}
    assert {n: (by_number[n].value, by_number[n].params) for n in complete} == complete
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    # Each trial a kill interrupted is failed once and its configuration enqueued once.
    interrupted = {t.number for t in trials
                   if str(t.user_attrs.get("error", "")).startswith("interrupted")}
    assert interrupted == orphans
    assert all(by_number[n].state == TrialState.FAIL for n in interrupted)
    retries = [t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs]
    assert sorted(retries) == sorted(n for n in interrupted if by_number[n].params
                                     or "fixed_params" in by_number[n].system_attrs)
    # The families' defaults, enqueued once, each completed exactly once.
    defaults = [t.params["family"] for t in trials
                if t.user_attrs.get("source") == "default" and t.state == TrialState.COMPLETE]
    assert sorted(defaults) == ["lightgbm", "linear"]
    # No configuration was evaluated twice: not a retried one, not one a resumed sampler
    # proposed again.
    configs = [json.dumps(t.params, sort_keys=True) for t in trials
               if t.state == TrialState.COMPLETE]
    assert len(set(configs)) == len(configs)
    # The resumed search went on, and its leaderboard lists every finished trial once.
    assert len(complete) < sum(t.state == TrialState.COMPLETE for t in trials)
    leaderboard = json.loads(out.stdout.strip().splitlines()[-1])
    assert sorted(leaderboard) == sorted(t.number for t in trials if t.state.is_finished()
                                         and t.state != TrialState.PRUNED)


def test_ctrl_c_in_a_terminal_stops_the_cli_search_and_writes_the_model(tmp_path):
    data = tmp_path / "data.csv"
    X = mixed_frame(60)
    X.assign(target=mixed_target(X, "classification")).to_csv(data, index=False)
    db, model = tmp_path / "study.db", tmp_path / "model.joblib"
    # A time budget: trials run in worker processes, which the terminal's Ctrl-C (SIGINT
    # to the whole process group) reaches too.
    proc = subprocess.Popen(
        [sys.executable, "-m", "automl_meta.cli", "fit", str(data), "--time", "600", "--cv", "2",
         "--no-meta", "--families", "linear", "lightgbm", "--storage", f"sqlite:///{db}",
         "--study-name", STUDY, "--out", str(model)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        # SIGINT handled as in a terminal, even where this test runs in the background of
        # a shell, which ignores it (and a child inherits that).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 300
        while proc.poll() is None and not _has_complete(db, 2) and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the study the process writes
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err
    assert "interrupted; the search stops once the trials in progress end" in err
    assert "UserWarning" not in err  # the command line says it once, plainly
    assert f"wrote {model}" in out
    trials = _trials(f"sqlite:///{db}")
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert sum(t.state == TrialState.COMPLETE for t in trials) >= 2
    assert joblib.load(model).predict(X).shape == (60,)


def test_a_resumed_study_does_not_propose_its_first_configurations_again(tmp_path):
    X = mixed_frame(40)
    y = mixed_target(X, "classification")
    settings = {"n_trials": 3, "time_budget": None, "cv": 2, "families": ["linear"],
                "knowledge_base": False, "random_state": 0,
                "storage": f"sqlite:///{tmp_path / 'study.db'}", "study_name": STUDY}
    for _ in range(2):  # the same command run twice
        AutoMetaClassifier(**settings).fit(X, y)
    trials = _trials(settings["storage"])
    assert len(trials) == 6
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 6


def test_a_process_registers_once_however_many_fits(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    X = mixed_frame(40)
    for _ in range(3):
        AutoMetaClassifier(n_trials=1, time_budget=None, cv=2, families=["linear"],
                           knowledge_base=False, storage=storage, study_name=STUDY).fit(
            X, mixed_target(X, "classification"))
    study = optuna.load_study(study_name=STUDY, storage=storage)
    workers = [k for k in study._storage.get_study_system_attrs(study._study_id)
               if k.startswith(estimators._WORKER_ATTR)]
    assert workers == [f"{estimators._WORKER_ATTR}{socket.gethostname()}:{os.getpid()}"]
    assert len(study.trials) == 3


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.mark.parametrize("worker", ["dead", "alive"])
def test_resuming_fails_and_retries_only_the_trials_of_dead_workers(tmp_path, worker):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name=STUDY, storage=storage)
    pid = _dead_pid() if worker == "dead" else os.getpid()
    host = socket.gethostname()
    study._storage.set_study_system_attr(
        study._study_id, f"{estimators._WORKER_ATTR}{host}:{pid}:0", [host, pid])
    left = study.ask()  # the trial the worker was running
    left.suggest_categorical("family", ["linear"])
    X = mixed_frame(40)
    AutoMetaClassifier(n_trials=1, time_budget=None, cv=2, families=["linear"],
                       knowledge_base=False, storage=storage, study_name=STUDY).fit(
        X, mixed_target(X, "classification"))
    trials = _trials(storage)
    if worker == "alive":  # it may still finish its trial: nothing is touched
        assert trials[left.number].state == TrialState.RUNNING
        assert not any("retry_of" in t.user_attrs for t in trials)
        return
    assert trials[left.number].state == TrialState.FAIL
    assert trials[left.number].user_attrs["error"].startswith("interrupted")
    retry = next(t for t in trials if t.user_attrs.get("retry_of") == left.number)
    assert retry.state == TrialState.COMPLETE and retry.params["family"] == "linear"


# ---------------------------------------------------------------------------------------
# Read-only stores and full disks


def _store_with_rows(path: Path) -> dict[str, set[tuple]]:
    """A store part-way through a build (the protocol of ``build_command``); its rows."""
    store = Store(path)
    store.set_meta("protocol", json.dumps(asdict(Protocol(n_configs=4)), sort_keys=True))
    store.add_dataset({"name": "earlier", "task": "classification", "n_rows": 50,
                       "n_features": 2})
    for config_id in range(4):
        store.write_evaluation("earlier", config_id, EvaluationResult(
            "knn", {}, "roc_auc", "ok", fold_scores={"roc_auc": [0.7, 0.8]},
            fit_seconds=[0.1, 0.1], predict_seconds=[0.01, 0.01], n_rows=50), PROTOCOL.cv)
    return {t: _rows(path, t) for t in ("meta", "datasets", "evaluations")}


def _kept(path: Path, before: dict[str, set[tuple]]) -> bool:
    return all(rows <= _rows(path, table) for table, rows in before.items())


@contextlib.contextmanager
def _read_only(path: Path):
    """``path`` made read-only. chmod does not stop root; the immutable attribute does."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)],
                                        capture_output=True).returncode != 0:
        pytest.skip("running as root, where only the immutable attribute (chattr +i) makes a "
                    "file read-only, and this file system or container cannot set it")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


def test_read_only_store_fails_loudly_and_keeps_its_rows(tmp_path, capsys):
    manifest = write_corpus(tmp_path, n_datasets=1)
    store = tmp_path / "store.sqlite"
    before = _store_with_rows(store)
    with _read_only(store):
        code = main(build_command(manifest, store)[3:])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and "Traceback" not in err
    assert f"automl-meta build: error: store {store}: attempt to write a readonly database" in err
    assert _kept(store, before)
    _check_complete(store)


def _limit_file_size(limit: int):
    """For ``preexec_fn``: no file of the child may grow past ``limit`` bytes (EFBIG, as
    on a full disk; Python ignores the SIGXFSZ that comes with it)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_full_disk_fails_the_build_loudly_and_corrupts_nothing(tmp_path):
    manifest = write_corpus(tmp_path, n_datasets=2)
    store = tmp_path / "store.sqlite"
    before = _store_with_rows(store)
    # The store cannot grow: the build starts, then fails at a write.
    out = subprocess.run(build_command(manifest, store), capture_output=True, text=True,
                         timeout=600, preexec_fn=_limit_file_size(store.stat().st_size))
    assert out.returncode == EXIT_USAGE and "Traceback" not in out.stderr
    assert re.search(rf"automl-meta build: error: store {re.escape(str(store))}: "
                     r"(disk I/O error|database or disk is full)", out.stderr), out.stderr
    assert _kept(store, before)
    _check_complete(store)
    # Space again: the build resumes and completes.
    out = subprocess.run(build_command(manifest, store), capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    total = expected_evaluations(manifest) + 4
    assert n_evaluations(store) == (total, total * PROTOCOL.cv)
    assert _kept(store, before)


SAVE_SCRIPT = """
import resource, sys
from automl_meta import KnowledgeBase

kb = KnowledgeBase.load(sys.argv[1])
kb.datasets["added"] = 1.0
resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))
kb.save(sys.argv[1])
"""


def test_full_disk_fails_an_export_loudly_and_keeps_the_previous_one(tmp_path):
    from synthetic import synthetic_kb

    folder = synthetic_kb(n_tasks=4).save(tmp_path / "kb")
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    out = subprocess.run([sys.executable, "-c", SAVE_SCRIPT, str(folder)], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode != 0
    assert f"KnowledgeBaseError: cannot write the knowledge base to {folder}" in out.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == files  # no leftovers either
    assert "added" not in KnowledgeBase.load(folder).datasets.columns


# ---------------------------------------------------------------------------------------
# Trials that raise or run out of memory inside a search


class _Hungry(ClassifierMixin, BaseEstimator):
    """A model whose fit asks for an exbibyte, as a runaway model would."""

    def fit(self, X, y):
        np.empty(1 << 57)  # 1 EiB: no address space has it, so this fails at once
        return self


@pytest.mark.parametrize("failure", ["raises", "out-of-memory"])
def test_a_failing_trial_is_recorded_and_the_search_goes_on(monkeypatch, failure):
    if failure == "raises":  # the objective itself raises, not only the model
        real_evaluate = estimators.evaluate

        def evaluate(family, *args, **kwargs):
            if family == "knn":
                raise RuntimeError("knn crashed")
            return real_evaluate(family, *args, **kwargs)

        monkeypatch.setattr(estimators, "evaluate", evaluate)
        status, error = "failed", "RuntimeError: knn crashed"
    else:
        real_build = evaluation.build_pipeline
        monkeypatch.setattr(evaluation, "build_pipeline", lambda family, *a, **k: (
            _Hungry() if family == "knn" else real_build(family, *a, **k)))
        status, error = "memory", "MemoryError: Unable to allocate"
    X = mixed_frame(60)
    model = AutoMetaClassifier(n_trials=4, time_budget=None, cv=2, families=["knn", "linear"],
                               knowledge_base=False, random_state=0).fit(
        X, mixed_target(X, "classification"))
    board = model.leaderboard_
    assert len(board) == 4 and model.best_params_["family"] == "linear"
    failed = board[board["family"] == "knn"]
    assert len(failed) >= 1 and failed["rank"].isna().all()
    assert (failed["status"] == status).all()
    assert failed["error"].str.contains(error, regex=False).all()
    assert (board.loc[board["family"] == "linear", "status"] == "ok").all()


# ---------------------------------------------------------------------------------------
# Security: no network, no unpickling

GUARD = """
import os
import socket

_connect = socket.socket.connect


def _refuse(*args, **kwargs):
    with open(os.environ["NETWORK_LOG"], "a") as log:
        log.write(f"{args!r}\\n")
    raise OSError("network access refused by the test")


def _connect_local(self, address):
    if self.family == socket.AF_UNIX:
        return _connect(self, address)
    return _refuse(address)


socket.socket.connect = _connect_local
socket.socket.connect_ex = _connect_local
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
"""

OFFLINE_FIT = """
import socket, sys
import pandas as pd
from automl_meta import AutoMetaClassifier

data = pd.read_csv(sys.argv[1])
model = AutoMetaClassifier(n_trials=2, time_budget=300, cv=2, families=["linear", "knn"],
                           random_state=0)  # the shipped knowledge base and meta-learner
model.fit(data.drop(columns="target"), data["target"])
print(model.best_params_["family"], model.metafeatures_ is not None)
try:
    socket.create_connection(("example.org", 80))  # the guard is on
except OSError:
    pass
"""


def test_import_and_fit_use_no_network(tmp_path):
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(GUARD)  # loaded by every Python process
    data = tmp_path / "data.csv"
    X = mixed_frame(160)  # 80 rows per fold: every knn configuration (k <= 64) can fit
    X.assign(target=mixed_target(X, "classification")).to_csv(data, index=False)
    log = tmp_path / "network.log"
    env = {**os.environ, "NETWORK_LOG": str(log),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(guard),
                                                       os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-c", OFFLINE_FIT, str(data)], capture_output=True,
                         text=True, timeout=600, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "True"  # meta-learning was on
    attempts = log.read_text().splitlines()
    assert attempts == ["(('example.org', 80),)"]  # only the check that the guard was on


def test_shipped_knowledge_base_is_data_only_and_loads_without_unpickling(monkeypatch):
    import torch

    folder = default_path()
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files and {p.suffix for p in files} <= {".parquet", ".json", ".safetensors"}

    def refuse(*args, **kwargs):
        raise AssertionError("a loader unpickled")

    for module, name in ((pickle, "load"), (pickle, "loads"), (torch, "load")):
        monkeypatch.setattr(module, name, refuse)
    kb = KnowledgeBase.load(folder)
    learner = MetaLearner.load(folder / "metalearner", device="cpu")
    assert kb.counts()["evaluations"] > 0
    assert set(learner.families_) <= set(kb.configurations["family"])
