"""The ``automl-meta`` command line: ``info`` and ``evaluate``."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from automl_meta import __version__
from automl_meta.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, main


@pytest.fixture
def csv_file(tmp_path):
    rng = np.random.default_rng(0)
    n = 45
    frame = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                          "colour": rng.choice(["red", "blue"], size=n)})
    frame["target"] = np.where(frame["a"] + 0.3 * rng.normal(size=n) > 0, "yes", "no")
    path = tmp_path / "small.csv"
    frame.to_csv(path, index=False)
    return path


def _error_line(capsys) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.out == ""
    return captured.err.strip()


def test_info_json(capsys, tmp_path):
    code = main(["info", "--json", "--knowledge-base", str(tmp_path / "no-kb")])
    report = json.loads(capsys.readouterr().out)
    assert report["versions"]["automl_meta"] == __version__
    assert report["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert {"numpy", "pandas", "scikit-learn", "lightgbm", "optuna"} <= set(report["versions"])
    assert report["versions"]["numpy"] == np.__version__
    assert report["knowledge_base"]["status"] == "unavailable"
    assert report["knowledge_base"]["path"] == str(tmp_path / "no-kb")
    assert report["knowledge_base"]["error"]
    assert report["device"] in ("cpu", "cuda", "torch not installed")
    # A missing knowledge base: the command worked but reports a failure.
    assert code == EXIT_FAILED


def test_evaluate_json(capsys, csv_file):
    code = main(["evaluate", str(csv_file), "--family", "knn", "--cv", "3", "--json"])
    out = capsys.readouterr().out
    assert code == EXIT_OK
    result = json.loads(out)
    assert result["status"] == "ok"
    assert result["family"] == "knn"
    assert result["params"] == {"n_neighbors": 5, "weights": "uniform", "p": 2}
    assert result["metric"] == "roc_auc"
    assert result["n_rows"] == 45
    assert result["error"] is None
    assert sorted(result["fold_scores"]) == ["balanced_accuracy", "log_loss", "roc_auc"]
    assert all(len(v) == 3 for v in result["fold_scores"].values())


def test_evaluate_text_with_params_and_metric(capsys, csv_file):
    code = main(["evaluate", str(csv_file), "--family", "knn", "--cv", "3",
                 "--metric", "balanced_accuracy",
                 "--params", '{"n_neighbors": 3, "weights": "distance", "p": 1}'])
    out = capsys.readouterr().out
    assert code == EXIT_OK
    lines = out.splitlines()
    assert lines[0] == "small: 45 rows x 3 features, classification"
    assert lines[1] == 'knn {"n_neighbors": 3, "weights": "distance", "p": 1}'
    assert lines[2].startswith(" *balanced_accuracy")
    assert len(lines[2].split("folds:")[1].split()) == 3
    assert lines[3].startswith("  roc_auc")


def test_evaluate_regression_with_target_and_task(capsys, csv_file):
    code = main(["evaluate", str(csv_file), "--family", "linear", "--target", "b",
                 "--task", "regression", "--cv", "2", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK
    assert result["metric"] == "rmse"
    assert sorted(result["fold_scores"]) == ["mae", "r2", "rmse"]


def test_evaluate_on_a_holdout_split(capsys, csv_file):
    code = main(["evaluate", str(csv_file), "--family", "linear", "--cv", "0.25", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK
    assert all(len(scores) == 1 for scores in result["fold_scores"].values())


def test_unknown_family(capsys, csv_file):
    code = main(["evaluate", str(csv_file), "--family", "xgboost"])
    assert code == EXIT_USAGE
    assert _error_line(capsys).startswith(
        "automl-meta evaluate: error: unknown model family 'xgboost'")


def test_missing_file(capsys, tmp_path):
    code = main(["evaluate", str(tmp_path / "absent.csv"), "--family", "knn"])
    assert code == EXIT_USAGE
    assert _error_line(capsys) == (
        f"automl-meta evaluate: error: no such file: {tmp_path / 'absent.csv'}")


@pytest.mark.parametrize(("params", "message"), [
    ("{not json", r"--params is not valid JSON"),
    ("[1, 2]", r"--params must be a JSON object"),
])
def test_invalid_params_json(capsys, csv_file, params, message):
    code = main(["evaluate", str(csv_file), "--family", "knn", "--params", params])
    assert code == EXIT_USAGE
    error = _error_line(capsys)
    assert error.startswith("automl-meta evaluate: error: ")
    assert message in error


def test_params_out_of_space(capsys, csv_file):
    code = main(["evaluate", str(csv_file), "--family", "knn", "--cv", "3",
                 "--params", '{"n_neighbors": 500, "weights": "uniform", "p": 2}'])
    assert code == EXIT_USAGE
    assert "knn: n_neighbors=500 is outside its space" in _error_line(capsys)


def test_bad_data_and_cv_are_usage_errors(capsys, csv_file, tmp_path):
    code = main(["evaluate", str(csv_file), "--family", "knn", "--target", "nope"])
    assert code == EXIT_USAGE
    assert "target column 'nope' not found" in _error_line(capsys)
    code = main(["evaluate", str(csv_file), "--family", "knn", "--cv", "1"])
    assert code == EXIT_USAGE
    assert "cv must be an integer >= 2 (folds), a float in (0, 1)" in _error_line(capsys)


def test_evaluate_with_groups_keeps_each_group_out_of_its_own_validation(capsys, tmp_path):
    # 40 groups of 5 copied rows, labels random per group: copies give the label away.
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(40), 5)
    frame = pd.DataFrame(rng.normal(size=(40, 3))[groups], columns=["a", "b", "c"])
    frame["site"] = [f"s{g}" for g in groups]
    frame["target"] = rng.integers(0, 2, 40)[groups]
    path = tmp_path / "grouped.csv"
    frame.to_csv(path, index=False)
    knn = ["evaluate", str(path), "--family", "knn", "--json",
           "--params", '{"n_neighbors": 1, "weights": "uniform", "p": 2}']
    scores = {}
    for name, extra in (("free", []), ("grouped", ["--groups", "site"])):
        assert main([*knn, *extra]) == EXIT_OK
        result = json.loads(capsys.readouterr().out)
        scores[name] = float(np.mean(result["fold_scores"]["roc_auc"]))
    assert scores["free"] > 0.9 and scores["grouped"] < 0.75


def test_failed_evaluation_exits_1(capsys, tmp_path):
    # 2 positives in 10 rows and 5 folds: ROC AUC is undefined on some folds.
    path = tmp_path / "rare.csv"
    pd.DataFrame({"x": np.arange(10.0), "target": [0] * 8 + [1] * 2}).to_csv(path, index=False)
    code = main(["evaluate", str(path), "--family", "knn", "--cv", "5",
                 "--params", '{"n_neighbors": 1, "weights": "uniform", "p": 2}'])
    out = capsys.readouterr().out
    assert code == EXIT_FAILED
    assert out.splitlines()[-1].startswith("status: failed: ValueError: roc_auc is not finite")


def test_argparse_errors_exit_2(capsys, csv_file):
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", str(csv_file)])  # --family is required
    assert exc.value.code == 2
    assert "--family" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["evaluate", str(csv_file), "--family", "knn", "--time-limit", "-1"])
    assert exc.value.code == 2
    assert "must be positive, got -1" in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"automl-meta {__version__}"


def test_console_script_help():
    script = shutil.which("automl-meta")
    command = [script] if script else [sys.executable, "-m", "automl_meta.cli"]
    done = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 0
    assert done.stdout.startswith("usage: automl-meta")
    assert "evaluate" in done.stdout and "build" in done.stdout


def test_info_reports_the_knowledge_base_and_its_meta_learner(capsys, tmp_path):
    from synthetic import synthetic_kb

    from automl_meta.metalearner import MetaLearner

    kb = synthetic_kb(n_tasks=4)
    folder = kb.save(tmp_path / "kb")
    code = main(["info", "--json", "--knowledge-base", str(folder)])
    report = json.loads(capsys.readouterr().out)
    assert report["knowledge_base"]["status"] == "ok"
    assert report["metalearner"]["status"] == "unavailable"
    assert "automl-meta train" in report["metalearner"]["error"]
    assert code == EXIT_FAILED
    MetaLearner(steps=1, n_members=1, hidden_size=8, device="cpu").fit(kb).save(
        folder / "metalearner")
    code = main(["info", "--json", "--knowledge-base", str(folder)])
    report = json.loads(capsys.readouterr().out)
    assert code == EXIT_OK and report["metalearner"]["status"] == "ok"
    assert report["metalearner"]["training_datasets"] == 4


def test_info_reports_the_sample_sizes_of_a_knowledge_base(capsys, tmp_path):
    from synthetic import two_sample_sizes_kb

    from automl_meta.metalearner import MetaLearner

    kb = two_sample_sizes_kb(n_tasks=4)
    folder = kb.save(tmp_path / "kb")
    MetaLearner(steps=1, n_members=1, hidden_size=8, device="cpu").fit(kb).save(
        folder / "metalearner")
    assert main(["info", "--json", "--knowledge-base", str(folder)]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["knowledge_base"]["datasets_by_max_rows"] == {"1000": 4, "8000": 2}
    assert report["metalearner"]["sample_size_input"] is True


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bars_redraw_rarely_only_outside_a_terminal():
    from automl_meta._progress import LOG_INTERVAL, progress_bar

    with progress_bar(total=3, file=io.StringIO()) as log_bar:
        assert log_bar.mininterval == LOG_INTERVAL
    with progress_bar(total=3, file=_Terminal()) as terminal_bar:
        assert terminal_bar.mininterval < 1
    with progress_bar(total=3, file=io.StringIO(), mininterval=2) as chosen:
        assert chosen.mininterval == 2
