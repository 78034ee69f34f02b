"""Four worker processes tune one study with MetaLearnedSampler, on SQLite and PostgreSQL.

PostgreSQL runs when ``AUTOML_META_TEST_POSTGRES`` holds a database URL (``.ci/run``
starts a local server and sets it); with ``AUTOML_META_REQUIRE_POSTGRES=1`` (also set by
``.ci/run``) a missing server fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import optuna
import pytest

TESTS = str(Path(__file__).resolve().parent)
WORKERS, TRIALS = 4, 5
CONFIG = "automl_meta:config"


@pytest.fixture(scope="module")
def saved(meta_trained, tmp_path_factory) -> Path:
    kb, learner = meta_trained
    folder = kb.save(tmp_path_factory.mktemp("kb") / "kb")
    learner.save(folder / "metalearner")
    return folder


def storage_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'study.db'}"
    url = os.environ.get("AUTOML_META_TEST_POSTGRES")
    if not url:
        if os.environ.get("AUTOML_META_REQUIRE_POSTGRES") == "1":
            pytest.fail("AUTOML_META_REQUIRE_POSTGRES=1 but AUTOML_META_TEST_POSTGRES is unset")
        pytest.skip("no PostgreSQL: set AUTOML_META_TEST_POSTGRES (.ci/run does)")
    return url


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_four_workers_share_one_study_without_repeating_a_configuration(backend, saved,
                                                                        tmp_path):
    url = storage_url(backend, tmp_path)
    name = f"workers-{uuid.uuid4().hex[:12]}"
    optuna.create_study(study_name=name, storage=url, direction="maximize")
    code = (f"import sys; sys.path.insert(0, {TESTS!r}); from synthetic import run_worker; "
            f"run_worker({url!r}, {name!r}, {str(saved)!r}, int(sys.argv[1]), {TRIALS})")
    try:
        workers = [subprocess.Popen([sys.executable, "-c", code, str(seed)],
                                    stderr=subprocess.PIPE, text=True)
                   for seed in range(WORKERS)]
        for worker in workers:
            _, err = worker.communicate(timeout=600)
            assert worker.returncode == 0, err[-3000:]
        trials = optuna.load_study(study_name=name, storage=url).trials
        assert len(trials) == WORKERS * TRIALS
        assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
        assert len({tuple(sorted(t.params.items())) for t in trials}) == len(trials)
        portfolio = sorted(t.number for t in trials
                           if t.system_attrs[CONFIG]["source"] == "portfolio")
        assert portfolio == [0, 1, 2, 3, 4]  # shared out by trial number, once each
    finally:
        optuna.delete_study(study_name=name, storage=url)
