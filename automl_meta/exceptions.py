"""Exception types raised by automl_meta.

Every error the library raises on purpose derives from :class:`AutoMetaError`, so that
scripts can catch the library's own failures apart from bugs. Input problems also derive
from :class:`ValueError`, as scikit-learn users expect.
"""


class AutoMetaError(Exception):
    """Base class of the errors raised by automl_meta."""


class DataValidationError(AutoMetaError, ValueError):
    """The data (X, y, a file's content) cannot be used as given."""


class DataSourceError(AutoMetaError, OSError):
    """A data source cannot be read (missing file, unknown format, unreachable OpenML)."""


class UnknownFamilyError(AutoMetaError, ValueError):
    """A model family name that is not in :data:`automl_meta.spaces.FAMILIES`."""


class InvalidParamsError(AutoMetaError, ValueError):
    """Hyperparameters outside a family's search space."""


class UnknownMetricError(AutoMetaError, ValueError):
    """A metric name that is not in :data:`automl_meta.evaluation.METRICS`."""


class KnowledgeBaseError(AutoMetaError):
    """A knowledge base or store that is missing, corrupt or inconsistent."""


class KnowledgeBaseVersionError(KnowledgeBaseError):
    """A knowledge base written in a format this version cannot read."""
