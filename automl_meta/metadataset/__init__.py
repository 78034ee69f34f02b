"""The meta-dataset: the store a build writes to, the builder, and the knowledge base."""

from automl_meta.metadataset.knowledge_base import KnowledgeBase
from automl_meta.metadataset.store import Store

__all__ = ["KnowledgeBase", "Store"]
