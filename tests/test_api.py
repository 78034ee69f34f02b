"""The top-level names of the specification (SPEC.md, "Python API")."""

from __future__ import annotations

import inspect
import subprocess
import sys

import optuna

import automl_meta

SPEC_NAMES = ["load_dataset", "MetaFeatureExtractor", "KnowledgeBase", "MetaLearner",
              "recommend", "Recommendation", "MetaLearnedSampler", "warm_start_study",
              "AutoMetaClassifier", "AutoMetaRegressor"]


def test_spec_names_are_exported_and_are_what_they_say():
    assert set(SPEC_NAMES) <= set(automl_meta.__all__)
    for name in SPEC_NAMES:
        value = getattr(automl_meta, name)
        assert inspect.isclass(value) or inspect.isfunction(value), name
    assert issubclass(automl_meta.MetaLearnedSampler, optuna.samplers.BaseSampler)


def test_star_import_binds_functions_not_submodules():
    code = ("from automl_meta import *; import inspect; "
            "assert inspect.isfunction(recommend), recommend; "
            "assert inspect.isfunction(warm_start_study), warm_start_study")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_import_is_light():
    code = ("import sys, automl_meta; heavy = {'torch', 'lightgbm', 'sklearn', 'optuna'} & "
            "set(sys.modules); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
