"""Where the builder's datasets come from: manifests, files, folders, OpenML ids and suites."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from automl_meta.data import (
    Dataset,
    load_manifest_entry,
    load_source,
    read_manifest,
)
from automl_meta.exceptions import DataSourceError

DATA_SUFFIXES = (".csv", ".tsv", ".arff", ".parquet", ".pq", ".csv.gz", ".tsv.gz", ".arff.gz")


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset to build from, not loaded yet."""

    name: str
    location: str  # a file path or "openml:<id>"
    target: str | None = None
    task: str | None = None
    openml_id: int | None = None
    from_manifest: bool = False

    def load(self) -> Dataset:
        if self.from_manifest:
            return load_manifest_entry({
                "name": self.name, "abspath": self.location, "target": self.target,
                "task": self.task, "openml_id": self.openml_id,
            })
        # Columns without values are left out, as a manifest's files drop them.
        return load_source(self.location, self.target, self.task, self.name, drop_empty=True)


def from_manifest(path: str | os.PathLike) -> list[DatasetSpec]:
    manifest = read_manifest(path)
    return [
        DatasetSpec(
            name=row["name"],
            location=row["abspath"],
            target=row["target"],
            task=row["task"],
            openml_id=None if pd.isna(row["openml_id"]) else int(row["openml_id"]),
            from_manifest=True,
        )
        for _, row in manifest.iterrows()
    ]


def from_paths(paths: list[str], target: str | None = None) -> list[DatasetSpec]:
    """Data files, and the data files found (not recursively) in folders."""
    files: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.name.lower().endswith(DATA_SUFFIXES))
            if not found:
                raise DataSourceError(f"{path}: no data files ({', '.join(DATA_SUFFIXES)})")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise DataSourceError(f"no such file or folder: {path}")
    return [DatasetSpec(name=p.name.split(".")[0], location=str(p), target=target)
            for p in files]


def from_openml(ids: list[int | str]) -> list[DatasetSpec]:
    specs = []
    for value in ids:
        text = str(value).removeprefix("openml:")
        if not text.isdigit():
            raise DataSourceError(f"not an OpenML dataset id: {value!r}")
        specs.append(DatasetSpec(name=f"openml_{text}", location=f"openml:{text}",
                                 openml_id=int(text)))
    return specs


def from_openml_suites(suites: list[int | str]) -> list[DatasetSpec]:
    """The datasets of OpenML suites or studies (e.g. 99 for OpenML-CC18)."""
    import openml

    ids: list[int] = []
    for suite in suites:
        try:
            ids.extend(openml.study.get_suite(suite).data)
        except Exception as exc:  # noqa: BLE001 - openml raises network and server errors
            raise DataSourceError(f"OpenML suite {suite!r} could not be read: {exc}") from exc
    return from_openml(list(dict.fromkeys(ids)))


def smallest(specs: list[DatasetSpec], n: int, manifest: str | None) -> list[DatasetSpec]:
    """The ``n`` smallest specs by rows x features where a manifest says so, else the first."""
    if manifest is None:
        return specs[:n]
    table = read_manifest(manifest)
    size = dict(zip(table["name"], table["rows"] * table["features"], strict=True)) if {
        "rows", "features"} <= set(table.columns) else {}
    ranked = sorted(range(len(specs)), key=lambda i: (size.get(specs[i].name, float("inf")), i))
    return [specs[i] for i in sorted(ranked[:n])]
