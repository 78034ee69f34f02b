"""The meta-dataset store, the builder (resume, two writers, Dask) and the knowledge base."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from corpus import (
    FAMILIES,
    PROTOCOL,
    build_command,
    expected_evaluations,
    n_evaluations,
    write_corpus,
)

from automl_meta.exceptions import KnowledgeBaseError, KnowledgeBaseVersionError
from automl_meta.metadataset import KnowledgeBase, Store
from automl_meta.metadataset.builder import Builder, Protocol, design
from automl_meta.metadataset.sources import DatasetSpec, from_manifest
from automl_meta.spaces import validate_params


def test_design_is_shared_default_first_and_inside_the_space():
    rows = design("lightgbm", "classification", Protocol(n_configs=24))
    assert [r[0] for r in rows] == list(range(24))
    assert rows[0][2] == "default" and {r[2] for r in rows[1:]} == {"sobol"}
    assert len({json.dumps(r[1], sort_keys=True) for r in rows}) == 24
    for _, params, _ in rows:
        validate_params("lightgbm", "classification", params)
    assert rows == design("lightgbm", "classification", Protocol(n_configs=24))


def test_build_fills_the_store_and_exports_a_loadable_knowledge_base(tmp_path):
    manifest = write_corpus(tmp_path)
    store = Store(tmp_path / "store.sqlite")
    summary = Builder(store, PROTOCOL, families=FAMILIES, progress=False).run(
        from_manifest(manifest))
    assert summary.done == summary.planned == expected_evaluations(manifest)
    assert summary.remaining == 0 and not summary.interrupted
    assert n_evaluations(store.path) == (summary.done, summary.done * PROTOCOL.cv)

    kb = KnowledgeBase.from_store(store)
    kb.save(tmp_path / "kb")
    loaded = KnowledgeBase.load(tmp_path / "kb")
    assert loaded.counts()["evaluations"] == summary.done
    assert repr(loaded) == (  # counts, not the tables
        f"KnowledgeBase({str(tmp_path / 'kb')!r}, datasets=3, evaluations={summary.done}, "
        f"failed_evaluations={loaded.counts()['failed_evaluations']}, "
        f"configurations={len(loaded.configurations)})")
    assert set(loaded.metafeatures["dataset"]) == {"d0", "d1", "d2"}
    scores = loaded.scores()
    assert len(scores) == summary.done
    ok = scores[scores["status"] == "ok"]
    assert ok["score"].notna().all()
    auc = ok[ok["task"] == "classification"]
    assert auc["score"].between(0.5, 1.0).all()  # 0.5: an over-regularised, constant model
    assert (auc.groupby("dataset")["score"].max() > 0.85).all()  # the target follows column a

    again = Builder(store, PROTOCOL, families=FAMILIES, progress=False).run(
        from_manifest(manifest))
    assert again.planned == 0 and again.done == 0


def test_a_file_to_build_from_leaves_out_columns_without_values(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,empty,target\n1,,0\n2,,1\n3,,0\n4,,1\n")
    assert list(DatasetSpec("d", str(path), target="target").load().X.columns) == ["a"]


def test_builder_refuses_another_protocol_on_the_same_store(tmp_path):
    store = Store(tmp_path / "store.sqlite")
    Builder(store, PROTOCOL, families=FAMILIES, progress=False)
    with pytest.raises(KnowledgeBaseError, match="protocol"):
        Builder(store, Protocol(n_configs=5, cv=2), families=FAMILIES, progress=False)


def test_the_same_data_under_two_names_is_built_once(tmp_path):
    manifest = write_corpus(tmp_path, n_datasets=1)
    table = pd.read_csv(manifest)
    copy = pd.read_csv(tmp_path / "d0.csv")
    copy["colour"] = copy["colour"].map({"red": "r", "green": "g", "blue": "b"})  # re-encoded
    copy.to_csv(tmp_path / "copy.csv", index=False)
    table.loc[1] = {**table.loc[0].to_dict(), "name": "copy", "path": "copy.csv"}
    table.to_csv(manifest, index=False)
    summary = Builder(Store(tmp_path / "s.sqlite"), PROTOCOL, families=FAMILIES,
                      progress=False).run(from_manifest(manifest), dry_run=True)
    assert summary.skipped == {"copy": "same data as d0"}
    assert summary.datasets == 1


def test_dry_run_writes_no_evaluation(tmp_path):
    manifest = write_corpus(tmp_path)
    out = subprocess.run(build_command(manifest, tmp_path / "s.sqlite", "--dry-run"),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"would run {expected_evaluations(manifest)} evaluations on 3 datasets" in out.stdout
    assert n_evaluations(tmp_path / "s.sqlite") == (0, 0)


def test_two_builders_on_one_store_share_the_work(tmp_path):
    manifest = write_corpus(tmp_path)
    store = tmp_path / "store.sqlite"
    Store(store)  # create it first so both processes open the same file
    procs = [subprocess.Popen(build_command(manifest, store), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outputs]
    done = [int(re.search(r"ran (\d+) of", o[0]).group(1)) for o in outputs]
    expected = expected_evaluations(manifest)
    assert sum(done) == expected  # each evaluation ran in exactly one builder
    assert n_evaluations(store) == (expected, expected * PROTOCOL.cv)


def test_build_on_a_dask_local_cluster(tmp_path):
    distributed = pytest.importorskip("distributed")
    manifest = write_corpus(tmp_path, n_datasets=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        store = Store(tmp_path / "store.sqlite")
        summary = Builder(store, PROTOCOL, families=FAMILIES, scheduler=cluster.scheduler_address,
                          progress=False).run(from_manifest(manifest))
    expected = expected_evaluations(manifest)
    assert summary.done == expected
    assert n_evaluations(store.path) == (expected, expected * PROTOCOL.cv)


def test_seed_from_an_export_resumes_without_redoing_work(tmp_path):
    manifest = write_corpus(tmp_path)
    first = Store(tmp_path / "a.sqlite")
    Builder(first, PROTOCOL, families=FAMILIES, progress=False).run(from_manifest(manifest))
    KnowledgeBase.from_store(first).save(tmp_path / "kb")
    fresh = Store(tmp_path / "b.sqlite")
    added = fresh.import_knowledge_base(KnowledgeBase.load(tmp_path / "kb"))
    assert added == expected_evaluations(manifest) * PROTOCOL.cv
    summary = Builder(fresh, PROTOCOL, families=FAMILIES, progress=False).run(
        from_manifest(manifest))
    assert summary.planned == 0


def test_a_larger_sample_extension_joins_the_knowledge_base(tmp_path):
    manifest = write_corpus(tmp_path)  # d0, d1, d2: 60, 70 and 80 rows
    small = dataclasses.replace(PROTOCOL, max_rows=50)
    base = Store(tmp_path / "base.sqlite")
    Builder(base, small, families=FAMILIES, progress=False).run(from_manifest(manifest))
    ext = Store(tmp_path / "ext.sqlite")
    summary = Builder(ext, PROTOCOL, families=FAMILIES, progress=False, metafeatures=False,
                      min_rows=65).run(from_manifest(manifest))
    assert summary.too_small == 1 and summary.datasets == 2

    kb = KnowledgeBase.from_store(base).extend(KnowledgeBase.from_store(ext))
    loaded = KnowledgeBase.load(kb.save(tmp_path / "kb"))
    per_dataset = len(FAMILIES) * PROTOCOL.n_configs
    assert loaded.counts()["evaluations"] == 5 * per_dataset
    assert loaded.manifest["protocol"]["max_rows"] == 50
    assert [p["max_rows"] for p in loaded.manifest["extensions"]] == [1000]
    rows = loaded.scores().groupby(["dataset", "max_rows"])["rows"].agg(["first", "size"])
    assert rows["first"].to_dict() == {("d0", 50): 50, ("d1", 50): 50, ("d1", 1000): 70,
                                       ("d2", 50): 50, ("d2", 1000): 80}
    assert (rows["size"] == per_dataset).all()
    # A store resumed from the export takes the evaluations of its own protocol only.
    fresh = Store(tmp_path / "fresh.sqlite")
    assert fresh.import_knowledge_base(loaded) == 3 * per_dataset * PROTOCOL.cv
    assert Builder(fresh, small, families=FAMILIES, progress=False).run(
        from_manifest(manifest)).planned == 0

    extension = KnowledgeBase.from_store(ext)
    with pytest.raises(KnowledgeBaseError, match="max_rows=\\[1000\\]"):
        kb.extend(extension)
    changed = extension.configurations.assign(params='{"n_neighbors": 3}')
    with pytest.raises(KnowledgeBaseError, match="differs"):
        KnowledgeBase.from_store(base).extend(dataclasses.replace(extension,
                                                                  configurations=changed))
    renamed = extension.evaluations.assign(dataset="elsewhere")
    with pytest.raises(KnowledgeBaseError, match="elsewhere"):
        KnowledgeBase.from_store(base).extend(dataclasses.replace(extension,
                                                                  evaluations=renamed))


def test_build_cli_exports_with_an_extension(tmp_path):
    manifest = write_corpus(tmp_path)
    Builder(Store(tmp_path / "base.sqlite"), dataclasses.replace(PROTOCOL, max_rows=50),
            families=FAMILIES, progress=False).run(from_manifest(manifest))
    env = {**os.environ, "CI": "1"}
    out = subprocess.run(build_command(manifest, tmp_path / "ext.sqlite", "--min-rows", "65",
                                       "--no-metafeatures"),
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert "left out 1 datasets with too few rows" in out.stdout
    export = [sys.executable, "-m", "automl_meta.cli", "build", "--store",
              str(tmp_path / "base.sqlite"), "--export", str(tmp_path / "kb"), "--extension"]
    out = subprocess.run([*export, str(tmp_path / "ext.sqlite")], capture_output=True,
                         text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    kb = KnowledgeBase.load(tmp_path / "kb")
    assert set(kb.evaluations["max_rows"]) == {50, 1000}
    out = subprocess.run([*export, str(tmp_path / "none.sqlite")], capture_output=True,
                         text=True, timeout=300, env=env)
    assert out.returncode != 0 and "no store at" in out.stderr
    assert not (tmp_path / "none.sqlite").exists()


def _small_kb(tmp_path) -> Path:
    manifest = write_corpus(tmp_path, n_datasets=1)
    store = Store(tmp_path / "store.sqlite")
    Builder(store, PROTOCOL, families=["knn"], progress=False).run(from_manifest(manifest))
    return KnowledgeBase.from_store(store).save(tmp_path / "kb")


def test_corrupt_knowledge_base_is_refused(tmp_path):
    folder = _small_kb(tmp_path)
    table = folder / "evaluations.parquet"
    data = bytearray(table.read_bytes())
    data[len(data) // 2] ^= 0xFF
    table.write_bytes(bytes(data))
    with pytest.raises(KnowledgeBaseError, match="checksum"):
        KnowledgeBase.load(folder)


def test_knowledge_base_versions_and_added_columns(tmp_path):
    folder = _small_kb(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    kb = KnowledgeBase.load(folder)
    kb.datasets["a_new_column"] = 1.0  # a later version may add columns
    kb.save(folder)
    assert "a_new_column" in KnowledgeBase.load(folder).datasets.columns

    for version, message in ((manifest["format_version"] + 1, "newer"), (0, "too old")):
        manifest["format_version"] = version
        (folder / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(KnowledgeBaseVersionError, match=message):
            KnowledgeBase.load(folder)

    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(KnowledgeBaseError, match="corrupt"):
        KnowledgeBase.load(folder)
    with pytest.raises(KnowledgeBaseError, match="no knowledge base"):
        KnowledgeBase.load(tmp_path / "nowhere")


def test_knowledge_base_missing_required_column(tmp_path):
    kb = KnowledgeBase.load(_small_kb(tmp_path))
    with pytest.raises(KnowledgeBaseError, match="lacks columns"):
        KnowledgeBase(kb.datasets.drop(columns=["task"]), kb.metafeatures, kb.configurations,
                      kb.evaluations)


def test_store_refuses_a_file_that_is_not_sqlite(tmp_path):
    bogus = tmp_path / "store.sqlite"
    bogus.write_text("this is not a database")
    with pytest.raises(KnowledgeBaseError, match="store"):
        Store(bogus)


def test_build_cli_exports(tmp_path):
    manifest = write_corpus(tmp_path, n_datasets=1)
    out = subprocess.run(
        build_command(manifest, tmp_path / "s.sqlite", "--export", str(tmp_path / "kb")),
        capture_output=True, text=True, timeout=300, env={**os.environ, "CI": "1"})
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "kb" / "manifest.json").is_file()
    assert KnowledgeBase.load(tmp_path / "kb").counts()["evaluations"] == 2 * 4


def test_subset_keeps_only_the_named_datasets():
    from synthetic import synthetic_kb

    kb = synthetic_kb(n_tasks=5)
    part = kb.subset(["task001", "task003"])
    assert sorted(part.datasets["name"]) == ["task001", "task003"]
    assert set(part.metafeatures["dataset"]) == set(part.evaluations["dataset"]) == {
        "task001", "task003"}
    assert part.configurations.equals(kb.configurations)
    assert set(part.scores()["dataset"]) == {"task001", "task003"}
    with pytest.raises(KnowledgeBaseError, match="not in the knowledge base"):
        kb.subset(["task001", "nope"])
