"""benchmarks/sampler.py: which finished studies a rerun keeps."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
bench = importlib.import_module("sampler")


def test_studies_made_with_other_code_are_run_again():
    def record(sampler, **versions):
        return {"dataset": "d1", "sampler": sampler, "seed": 0, "best_loss": 0.1, **versions}

    records = [record("meta-learned", evaluation="e", code="v"),
               record("meta-learned", evaluation="e", code="old"),
               record("meta-learned", evaluation="old", code="v"),
               record("meta-learned", evaluation="e"),
               record("tpe", evaluation="e"), record("tpe", evaluation="old"), record("tpe"),
               record("random", evaluation="e", code="anything")]
    kept = bench.current(records, "v", "e")
    assert kept == [records[0], records[4], records[7]]


def test_meta_learned_studies_follow_the_learner_and_meta_feature_code(monkeypatch):
    first = bench.learned_version()
    monkeypatch.setattr(bench, "features_version", lambda: "other meta-feature code")
    second = bench.learned_version()
    monkeypatch.setattr(bench, "code_version", lambda: "other meta-learner code")
    assert len({first, second, bench.learned_version()}) == 3
