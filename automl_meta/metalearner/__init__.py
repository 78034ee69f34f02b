"""The meta-learner: a torch surrogate of configuration quality across datasets.

:class:`MetaLearner` maps (task embedding, model family, hyperparameters) to a score
normalised within each dataset, meta-trained with Reptile, MAML or joint training on a
knowledge base, and adapted to a new dataset in a few gradient steps. See
``docs/metalearner.md`` for the design and ``benchmarks/results/metalearner.md`` for how
it compares with other warm-starting methods.

``MetaLearner`` loads torch on first use, so that importing the package (the CLI's
``--help``, for one) stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

#: Meta-training algorithms: first-order Reptile, second-order MAML, plain joint training.
METHODS = ("reptile", "maml", "joint")
#: What the shipped meta-learner uses: plain joint training ranked best in the held-out
#: benchmark (benchmarks/results/metalearner.md), ahead of Reptile and MAML.
DEFAULT_METHOD = "joint"
#: Meta-training steps per method when ``steps`` is None: under a minute each on 2 busy
#: CPU cores for a knowledge base of ~250 datasets.
DEFAULT_STEPS = {"joint": 1500, "reptile": 200, "maml": 100}

if TYPE_CHECKING:
    from automl_meta.metalearner._learner import MetaLearner


def __getattr__(name: str):
    if name == "MetaLearner":
        from automl_meta.metalearner._learner import MetaLearner

        return MetaLearner
    raise AttributeError(f"module 'automl_meta.metalearner' has no attribute {name!r}")


__all__ = ["DEFAULT_METHOD", "DEFAULT_STEPS", "METHODS", "MetaLearner"]
