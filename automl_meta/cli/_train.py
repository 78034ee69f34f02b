"""``automl-meta train``: meta-train the surrogate on a knowledge base and save it."""

from __future__ import annotations

import argparse
from pathlib import Path

from automl_meta.exceptions import KnowledgeBaseError


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register the ``train`` subcommand on the CLI's subparsers."""
    from automl_meta.metalearner import DEFAULT_METHOD, DEFAULT_STEPS, METHODS

    parser = subparsers.add_parser(
        "train", help="meta-train the meta-learner on a knowledge base",
        description="Meta-train the surrogate f(task embedding, family, hyperparameters) on "
        "every dataset of a knowledge base, or on past Optuna studies, and write its weights "
        "(safetensors) and config (JSON) to --out.")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--knowledge-base", metavar="DIR",
                        help="an exported knowledge-base folder (default: the shipped one)")
    source.add_argument("--store", metavar="PATH", help="a builder's SQLite store (read only)")
    source.add_argument("--from-studies", nargs="+", metavar="NAME",
                        help="past Optuna studies (of any search space) in --storage")
    parser.add_argument("--storage", metavar="URL",
                        help="Optuna storage of --from-studies, e.g. sqlite:///studies.db")
    parser.add_argument("--method", choices=METHODS, default=DEFAULT_METHOD,
                        help=f"meta-training algorithm (default: {DEFAULT_METHOD})")
    parser.add_argument("--steps", type=int, metavar="N",
                        help="optimisation steps (default per method: "
                        + ", ".join(f"{m} {s}" for m, s in DEFAULT_STEPS.items()) + ")")
    parser.add_argument("--members", type=int, default=5, help="ensemble size (5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", help="torch device (default: cuda when available, else cpu)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def run(args: argparse.Namespace) -> int:
    """Train and save; returns the exit code (errors raise AutoMetaError)."""
    from automl_meta._progress import progress_bar
    from automl_meta.metadataset.knowledge_base import KnowledgeBase
    from automl_meta.metadataset.store import Store
    from automl_meta.metalearner import DEFAULT_STEPS, MetaLearner

    if args.from_studies:
        from automl_meta.sampler import studies_knowledge_base

        if not args.storage:
            raise KnowledgeBaseError("--from-studies needs --storage, the studies' storage URL")
        kb = studies_knowledge_base(args.storage, args.from_studies)
    elif args.storage:
        raise KnowledgeBaseError("--storage is only used with --from-studies")
    elif args.store is not None:
        # Store() would create a missing file: a typo must not become an empty store.
        if not Path(args.store).is_file():
            raise KnowledgeBaseError(f"no store at {args.store}")
        kb = KnowledgeBase.from_store(Store(args.store))
    else:
        kb = KnowledgeBase.load(args.knowledge_base)
    learner = MetaLearner(args.method, steps=args.steps, n_members=args.members,
                          seed=args.seed, device=args.device)
    total = DEFAULT_STEPS[args.method] if args.steps is None else args.steps
    with progress_bar(total=total, desc=f"meta-training ({args.method})", unit="step",
                      disable=args.quiet) as bar:

        def progress(step: int, n_steps: int, loss: float) -> None:
            bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            bar.update(1)

        learner.fit(kb, callback=progress)
    folder = learner.save(args.out)
    print(f"trained on {len(learner.training_datasets_)} datasets "
          f"({learner.n_trials_} evaluations) on {learner.device_}; wrote {folder}")
    return 0
