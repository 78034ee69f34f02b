"""From raw meta-feature vectors to the bounded float32 input of a neural meta-learner."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from automl_meta.metafeatures._extractor import LOG_SCALED_FEATURES

_FORMAT = "automl_meta.MetaFeatureNormalizer"
_VERSION = 1


def signed_log1p(x: np.ndarray) -> np.ndarray:
    """``sign(x) * log(1 + |x|)``: compresses counts and heavy tails, keeps the sign."""
    return np.sign(x) * np.log1p(np.abs(x))


class MetaFeatureNormalizer:
    """Scale raw meta-feature vectors robustly and make missing values explicit.

    ``transform`` applies, per feature: a signed ``log1p`` to count-like and heavy-tailed
    features (:data:`LOG_SCALED_FEATURES`), robust scaling ``(x - median) / IQR`` with the
    statistics of the table given to :meth:`fit`, clipping to ``[-clip, clip]``, then
    NaN -> 0 (the median). Every feature that was NaN somewhere in the fitting table also
    gets an indicator column (1.0 where the value is missing), appended after the values.

    The fitted state is a plain, JSON-serialisable dict (:meth:`to_dict`,
    :meth:`from_dict`), so it can be stored with a knowledge base.

    Parameters
    ----------
    clip : float, default 5.0
        Bound of the scaled values.
    log_features : iterable of str or None, default None
        Features put on the signed log scale; None means :data:`LOG_SCALED_FEATURES`.

    Attributes
    ----------
    features_ : list of str
        Input feature names, in the order of the fitting table's columns.
    output_names_ : list of str
        Output column names: the features, then ``"<feature>__nan"`` indicators.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"n_instances": [100.0, 1000.0, 10000.0], "x": [0.1, None, 0.3]})
    >>> norm = MetaFeatureNormalizer().fit(table)
    >>> norm.output_names_
    ['n_instances', 'x', 'x__nan']
    >>> norm.transform(table.iloc[1]).tolist()
    [0.0, 0.0, 1.0]
    """

    def __init__(self, clip: float = 5.0, log_features: Iterable[str] | None = None) -> None:
        if not clip > 0:
            raise ValueError(f"clip must be positive, got {clip!r}")
        self.clip = float(clip)
        self.log_features = None if log_features is None else sorted(log_features)

    def fit(self, raw: pd.DataFrame | Iterable[pd.Series]) -> MetaFeatureNormalizer:
        """Learn medians, IQRs and which features need NaN indicators.

        Parameters
        ----------
        raw : DataFrame (one row per dataset, one column per feature) or Series
            Raw vectors as returned by :meth:`MetaFeatureExtractor.extract`.

        Returns
        -------
        MetaFeatureNormalizer
            ``self``.
        """
        frame = raw if isinstance(raw, pd.DataFrame) else pd.DataFrame(list(raw))
        if frame.shape[0] == 0 or frame.shape[1] == 0:
            raise ValueError("fit needs at least one row and one column of meta-features")
        self.features_ = [str(c) for c in frame.columns]
        log_set = LOG_SCALED_FEATURES if self.log_features is None else set(self.log_features)
        self._logged = np.array([f in log_set for f in self.features_])
        values = self._log(frame.to_numpy(dtype=float))
        observed = ~np.isnan(values)
        center = np.zeros(values.shape[1])
        scale = np.ones(values.shape[1])
        for j in np.flatnonzero(observed.any(axis=0)):
            column = values[observed[:, j], j]
            q25, median, q75 = np.quantile(column, [0.25, 0.5, 0.75])
            center[j] = median
            # A feature constant on most datasets has IQR 0: fall back to the sd, then 1.
            for spread in (q75 - q25, column.std()):
                if spread > 1e-12:
                    scale[j] = spread
                    break
        self._center, self._scale = center, scale
        self._indicators = ~observed.all(axis=0)
        return self

    @property
    def output_names_(self) -> list[str]:
        self._check_fitted()
        indicators = [f"{f}__nan" for f, i in zip(self.features_, self._indicators, strict=True)
                      if i]
        return [*self.features_, *indicators]

    def transform(self, raw: pd.Series | pd.DataFrame) -> np.ndarray:
        """Normalise one vector (Series) or a table of vectors (DataFrame).

        Features are matched by name: a fitted feature absent from ``raw`` counts as
        missing, a feature ``raw`` has beyond those is ignored.

        Returns
        -------
        numpy.ndarray of float32
            Shape ``(len(output_names_),)`` for a Series, ``(n_rows, len(output_names_))``
            for a DataFrame. Always finite, within ``[-clip, clip]``.
        """
        self._check_fitted()
        if isinstance(raw, pd.Series):
            return self.transform(raw.to_frame().T)[0]
        if not isinstance(raw, pd.DataFrame):
            raise TypeError(f"transform expects a Series or DataFrame, got {type(raw).__name__}")
        values = raw.reindex(columns=self.features_).to_numpy(dtype=float)
        missing = np.isnan(values)
        scaled = (self._log(values) - self._center) / self._scale
        scaled = np.where(missing, 0.0, np.clip(scaled, -self.clip, self.clip))
        out = np.hstack([scaled, missing[:, self._indicators].astype(float)])
        return out.astype(np.float32)

    def fit_transform(self, raw: pd.DataFrame) -> np.ndarray:
        """:meth:`fit` then :meth:`transform` the same table."""
        return self.fit(raw).transform(raw)

    def to_dict(self) -> dict[str, Any]:
        """The fitted state as a JSON-serialisable dict (lists, floats, strings)."""
        self._check_fitted()
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "clip": self.clip,
            "features": list(self.features_),
            "log_scaled": [bool(b) for b in self._logged],
            "center": [float(v) for v in self._center],
            "scale": [float(v) for v in self._scale],
            "indicators": [bool(b) for b in self._indicators],
        }

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> MetaFeatureNormalizer:
        """Rebuild a fitted normalizer from :meth:`to_dict` output.

        Raises
        ------
        ValueError
            If ``state`` is not a normalizer state of a known version.
        """
        if state.get("format") != _FORMAT or state.get("version") != _VERSION:
            raise ValueError(
                f"not a {_FORMAT} state of version {_VERSION}: format={state.get('format')!r},"
                f" version={state.get('version')!r}"
            )
        features = list(state["features"])
        arrays = {k: np.asarray(state[k]) for k in ("log_scaled", "center", "scale",
                                                    "indicators")}
        if any(len(a) != len(features) for a in arrays.values()):
            raise ValueError("normalizer state arrays do not match its feature list")
        norm = cls(clip=state["clip"],
                   log_features=[f for f, b in zip(features, arrays["log_scaled"], strict=True)
                                 if b])
        norm.features_ = features
        norm._logged = arrays["log_scaled"].astype(bool)
        norm._center = arrays["center"].astype(float)
        norm._scale = arrays["scale"].astype(float)
        norm._indicators = arrays["indicators"].astype(bool)
        return norm

    def _log(self, values: np.ndarray) -> np.ndarray:
        return np.where(self._logged[None, :], signed_log1p(values), values)

    def _check_fitted(self) -> None:
        if not hasattr(self, "features_"):
            raise RuntimeError("this MetaFeatureNormalizer is not fitted; call fit first")
