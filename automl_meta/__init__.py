"""automl_meta: meta-learned AutoML for tabular data.

The public names of the specification are importable from here; heavy ones (torch)
load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_LAZY = {
    "Dataset": "automl_meta.data",
    "load_dataset": "automl_meta.data",
    "MetaFeatureExtractor": "automl_meta.metafeatures",
    "KnowledgeBase": "automl_meta.metadataset",
    "MetaLearner": "automl_meta.metalearner",
    "recommend": "automl_meta.recommendation",
    "Recommendation": "automl_meta.recommendation",
    "MetaLearnedSampler": "automl_meta.sampler",
    "warm_start_study": "automl_meta.sampler",
    "AutoMetaClassifier": "automl_meta.estimators",
    "AutoMetaRegressor": "automl_meta.estimators",
}

if TYPE_CHECKING:
    from automl_meta.data import Dataset, load_dataset
    from automl_meta.estimators import AutoMetaClassifier, AutoMetaRegressor
    from automl_meta.metadataset import KnowledgeBase
    from automl_meta.metafeatures import MetaFeatureExtractor
    from automl_meta.metalearner import MetaLearner
    from automl_meta.recommendation import Recommendation, recommend
    from automl_meta.sampler import MetaLearnedSampler, warm_start_study


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'automl_meta' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY])


__all__ = [
    "AutoMetaClassifier",
    "AutoMetaRegressor",
    "Dataset",
    "KnowledgeBase",
    "MetaFeatureExtractor",
    "MetaLearnedSampler",
    "MetaLearner",
    "Recommendation",
    "__version__",
    "load_dataset",
    "recommend",
    "warm_start_study",
]
