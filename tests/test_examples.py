"""The scripts in examples/ run, with small budgets, on the shipped knowledge base."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_warm_start_lightgbm():
    out = run("warm_start_lightgbm.py", "--trials", "5", "--configs", "3")
    assert "enqueued 3 recommended configurations" in out
    sources = re.findall(r"trial +\d+ +(\w+) +ROC AUC", out)
    assert sources == ["warm_start"] * 3 + ["tpe"] * 2


def test_custom_objective_from_past_studies():
    out = run("custom_objective.py", "--trials", "6", "--past", "3")
    assert "3 past studies" in out
    assert re.search(r"meta-learned +best ROC AUC after 6 trials: 0\.\d+", out)
    assert re.search(r"tpe +best ROC AUC after 6 trials: 0\.\d+", out)


def test_two_workers_on_one_sqlite_study():
    out = run("two_workers_sqlite.py", "--trials", "3")
    assert "6 trials by 2 workers, 6 distinct configurations" in out
    assert out.count("portfolio") == 5


def test_grouped_validation_scores_new_groups_honestly():
    out = run("grouped_validation.py", "--trials", "15")
    scores = {name: (float(cv), float(new)) for name, cv, new in re.findall(
        r"(rows split freely|patients kept whole) +CV ROC AUC (\S+) +on new patients (\S+)",
        out)}
    (free_cv, free_new), (grouped_cv, grouped_new) = (
        scores["rows split freely"], scores["patients kept whole"])
    # Split freely, CV validates on copies of trained rows and promises far more than
    # new patients give; kept whole, the promise is much nearer what is kept.
    assert free_cv - free_new > 0.15
    assert grouped_cv - grouped_new < (free_cv - free_new) / 2


def test_credit_costs_searches_by_a_metric_of_ones_own():
    out = run("credit_costs.py", "--trials", "10")
    costs = dict(re.findall(r"^(searched by ROC AUC|searched by cost|grant everyone|refuse "
                            r"everyone) +cost per new customer (\S+)", out, re.MULTILINE))
    assert set(costs) == {"searched by ROC AUC", "searched by cost", "grant everyone",
                          "refuse everyone"}
    assert float(costs["grant everyone"]) == 1.5 and float(costs["refuse everyone"]) == 0.7
    # Both models' decisions cost less than refusing everyone, the best trivial policy.
    assert float(costs["searched by ROC AUC"]) < 0.7 and float(costs["searched by cost"]) < 0.7
    # The second search ranked its trials by the cost (lower is better), in its units.
    assert re.search(r"searched by ROC AUC .* CV roc_auc 0\.\d+", out)
    assert 0 < float(re.search(r"searched by cost .* CV cost (\S+)", out).group(1)) < 0.7
