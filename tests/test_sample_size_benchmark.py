"""benchmarks/sample_size.py on a synthetic knowledge base whose best configurations move
with the sample size: asked for the larger pool's rows, the learner trained with the
extension ranks that pool better than when asked for the base protocol's rows."""

from __future__ import annotations

import dataclasses
import importlib
import sys
from pathlib import Path

import pytest
from synthetic import synthetic_kb, two_sample_sizes_kb

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
bench = importlib.import_module("sample_size")


def test_the_sample_size_input_is_measured_on_the_larger_pools(tmp_path):
    kb = two_sample_sizes_kb(n_tasks=30)
    # Distinct name stems, so that the tasks are not one group of near-duplicates.
    rename = {f"task{t:03d}": f"set{chr(97 + t // 26)}{chr(97 + t % 26)}x" for t in range(30)}
    kb = dataclasses.replace(
        kb, datasets=kb.datasets.replace({"name": rename}),
        metafeatures=kb.metafeatures.replace({"dataset": rename}),
        evaluations=kb.evaluations.replace({"dataset": rename}))
    result = bench.run(kb, folds=3, cache=tmp_path, log=lambda *_: None, steps=600)
    summary = bench.summarise(result["records"]).set_index(["method", "top"])
    assert {m for m, _ in summary.index} == set(bench.METHODS)
    assert summary.loc[(bench.METHODS[0], 1), "datasets"] == 15  # the even tasks
    assert (summary.loc[(bench.METHODS[0], 1), "regret"]
            < summary.loc[(bench.METHODS[1], 1), "regret"] - 0.05)
    report = bench.markdown(summary.reset_index(), {
        "command": "python benchmarks/sample_size.py", "n_datasets": 15, "rows": "8,000",
        "folds": 3, "seconds": 1.0})
    assert "| with the extension, pool's rows |" in report


def test_a_knowledge_base_without_extension_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="no larger-sample extension"):
        bench.run(synthetic_kb(n_tasks=6), folds=2, cache=tmp_path, log=lambda *_: None)
