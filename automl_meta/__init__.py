"""automl_meta: meta-learned AutoML for tabular data."""

__version__ = "0.1.0"

from automl_meta.data import Dataset, load_dataset  # noqa: E402

__all__ = ["Dataset", "load_dataset", "__version__"]
