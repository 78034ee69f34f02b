"""Meta-features: a fixed-length description of a tabular dataset.

:class:`MetaFeatureExtractor` computes five groups of features (general, statistical,
information-theoretic, landmarking, model-based) with vectorised numpy on a fixed-seed
subsample; :class:`MetaFeatureNormalizer` turns the raw vectors into the bounded float32
input of a neural meta-learner. See ``docs/metafeatures.md`` for every feature.

Example
-------
>>> from automl_meta.metafeatures import MetaFeatureExtractor
>>> mf = MetaFeatureExtractor().extract(X, y)  # doctest: +SKIP
>>> mf["n_instances"], mf["class_entropy"]  # doctest: +SKIP
"""

from automl_meta.metafeatures._extractor import (
    FEATURE_DESCRIPTIONS,
    GROUPS,
    LOG_SCALED_FEATURES,
    MetaFeatureExtractor,
    describe_features,
)
from automl_meta.metafeatures._normalize import MetaFeatureNormalizer

__all__ = [
    "FEATURE_DESCRIPTIONS",
    "GROUPS",
    "LOG_SCALED_FEATURES",
    "MetaFeatureExtractor",
    "MetaFeatureNormalizer",
    "describe_features",
]
