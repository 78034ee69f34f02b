"""Meta-training loops (joint, Reptile, MAML) and the few-shot adaptation they prepare for.

Two losses, each where it fits:

* the regression loss (mean squared error to each dataset's normal scores) teaches the
  network what a configuration is worth on a dataset whose whole pool is known;
* the pairwise ranking loss is what :func:`adapt` minimises on a new dataset, where only
  a few raw scores are known: their order is meaningful, their normalisation is not (a
  search that found only good configurations would call the worst of them "bad").

MAML differentiates through :func:`adapt` itself (second order), Reptile follows plain
SGD on each dataset's regression loss (first order), joint training pools all trials.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from automl_meta.metalearner._network import Params, forward

#: ``callback(step, n_steps, loss)`` after each optimisation step.
Callback = Callable[[int, int, float], None]


@dataclass
class Tensors:
    """A :class:`TrialTable` on the device, plus bootstrap weights per ensemble member."""

    embeddings: torch.Tensor  # (n_tasks, embedding_size)
    task_index: torch.Tensor  # (n,)
    family: torch.Tensor  # (n,)
    hyperparameters: torch.Tensor  # (n, width)
    losses: torch.Tensor  # (n,)
    targets: torch.Tensor  # (n,)
    weights: torch.Tensor  # (members, n): Poisson(1) bootstrap counts, for diversity
    rows: list[np.ndarray]  # row indices of each task


@dataclass(frozen=True)
class Settings:
    """Optimisation settings of a meta-training run."""

    steps: int
    lr: float = 1e-3
    batch_size: int = 256  # rows per step (joint)
    tasks_per_step: int = 8  # datasets per meta-step (Reptile, MAML)
    rows_per_task: int = 64  # at most this many trials of a dataset per inner step
    inner_steps: int = 5
    inner_lr: float = 0.05  # Reptile's inner SGD on the regression loss
    adapt_steps: int = 5
    adapt_lr: float = 0.3  # the ranking-loss SGD of adapt(), which MAML meta-learns for
    max_support: int = 16  # MAML support sets hold 0..max_support trials


def regression_loss(predictions: torch.Tensor, targets: torch.Tensor,
                    weights: torch.Tensor | None = None) -> torch.Tensor:
    """(Weighted) mean squared error over members and rows."""
    errors = (predictions - targets) ** 2
    if weights is None:
        return errors.mean()
    return (errors * weights).sum() / weights.sum().clamp_min(1.0)


#: :func:`adapt` fits the order of every pair of observed trials while there are at most
#: this many trials, and beyond, at each step, of every pair among as many trials drawn
#: at random (a minibatch). A step runs the network on every trial it fits and compares
#: every pair, so on all of them its cost would grow with the study (0.1 s an
#: adaptation at 600 trials on one core, against trials of a fraction of a second on
#: small data).
MAX_TRIALS = 128


def ranking_loss(predictions: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
    """Pairwise logistic loss: a configuration with a lower loss should score higher."""
    better = (losses[:, None] < losses[None, :]).to(predictions.dtype)
    margins = predictions[:, :, None] - predictions[:, None, :]
    return (better * torch.nn.functional.softplus(-margins)).sum() / (
        better.sum().clamp_min(1.0) * predictions.shape[0])


def adapt(params: Params, embedding: torch.Tensor, family: torch.Tensor,
          hyperparameters: torch.Tensor, losses: torch.Tensor, steps: int,
          lr: float, max_trials: int = MAX_TRIALS) -> Params:
    """``steps`` of SGD on the ranking loss of observed trials, from ``params``.

    With more than ``max_trials`` trials each step fits a random subset of
    ``max_trials`` of them, drawn from a generator seeded by the number of trials (the
    same trials adapt the same way). Every pair of trials is as likely to be in a
    subset, so a step's loss estimates the loss over all of them. Differentiable with
    respect to ``params`` (MAML backpropagates through it).
    """
    n = losses.shape[0]
    generator = torch.Generator().manual_seed(n) if n > max_trials else None
    differentiable = any(v.requires_grad for v in params.values())
    for _ in range(steps):
        rows = (slice(None) if generator is None
                else torch.randperm(n, generator=generator)[:max_trials].to(losses.device))

        def objective(p: Params, rows=rows) -> torch.Tensor:
            shared = embedding if embedding.dim() == 1 else embedding[rows]
            return ranking_loss(forward(p, shared, family[rows], hyperparameters[rows]),
                                losses[rows])

        if differentiable:  # meta-training: MAML differentiates through the step
            gradient = torch.func.grad(objective)(params)
        else:
            # The same gradients by plain autograd: functorch's first call imports
            # torch._dynamo, seconds of a fit's budget in a fresh process.
            with torch.enable_grad():
                leaves = {k: v.detach().requires_grad_(True) for k, v in params.items()}
                gradient = dict(zip(leaves, torch.autograd.grad(objective(leaves),
                                                                list(leaves.values())),
                                    strict=True))
        params = {k: v - lr * gradient[k] for k, v in params.items()}
    return params


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one CPU thread, then restore the setting.

    The network is small: on a shared CPU, intra-op threads cost far more in
    synchronisation than they win (25x slower steps measured on 2 busy cores).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train(method: str, params: Params, data: Tensors, settings: Settings, seed: int,
          callback: Callback | None = None) -> Params:
    """Meta-train ``params`` (a copy is trained and returned) with ``method``."""
    params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    optimizer = torch.optim.Adam(params.values(), lr=settings.lr)
    rng = np.random.default_rng(seed)
    step_fn = {"joint": _joint_step, "reptile": _reptile_step, "maml": _maml_step}[method]
    with single_thread():
        for step in range(settings.steps):
            optimizer.zero_grad()
            loss = step_fn(params, data, settings, rng)
            optimizer.step()
            if callback is not None:
                callback(step + 1, settings.steps, loss)
    return {k: v.detach() for k, v in params.items()}


def _joint_step(params: Params, data: Tensors, settings: Settings,
                rng: np.random.Generator) -> float:
    rows = torch.as_tensor(rng.choice(len(data.family), size=min(settings.batch_size,
                                                                 len(data.family)),
                                      replace=False), device=data.family.device)
    predictions = forward(params, data.embeddings[data.task_index[rows]], data.family[rows],
                          data.hyperparameters[rows])
    loss = regression_loss(predictions, data.targets[rows], data.weights[:, rows])
    loss.backward()
    return loss.item()


def _task_rows(data: Tensors, settings: Settings, rng: np.random.Generator) -> list:
    tasks = rng.choice(len(data.rows), size=min(settings.tasks_per_step, len(data.rows)),
                       replace=False)
    return [rng.permutation(data.rows[t]) for t in tasks]


def _reptile_step(params: Params, data: Tensors, settings: Settings,
                  rng: np.random.Generator) -> float:
    """Move towards the average of per-dataset SGD solutions (first-order Reptile).

    The difference ``params - adapted`` is written as the gradient, so that Adam on the
    outer loop takes the Reptile step.
    """
    total = 0.0
    deltas = {k: torch.zeros_like(v) for k, v in params.items()}
    task_rows = _task_rows(data, settings, rng)
    for rows in task_rows:
        fast = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        for _ in range(settings.inner_steps):
            batch = torch.as_tensor(rng.choice(rows, size=min(settings.rows_per_task,
                                                              len(rows)), replace=False))
            predictions = forward(fast, data.embeddings[data.task_index[batch[0]]],
                                  data.family[batch], data.hyperparameters[batch])
            loss = regression_loss(predictions, data.targets[batch], data.weights[:, batch])
            gradients = torch.autograd.grad(loss, list(fast.values()))
            with torch.no_grad():
                for value, gradient in zip(fast.values(), gradients, strict=True):
                    value -= settings.inner_lr * gradient
            total += loss.item()
        for k in params:
            deltas[k] += (params[k].detach() - fast[k].detach()) / len(task_rows)
    for k, v in params.items():
        v.grad = deltas[k]
    return total / (len(task_rows) * settings.inner_steps)


def _maml_step(params: Params, data: Tensors, settings: Settings,
               rng: np.random.Generator) -> float:
    """Second-order MAML: adapt on a small support set, score on the query set.

    Support sets of 0 or 1 trial leave the weights as they are, as :meth:`adapt` does,
    so the same weights are also trained to predict zero-shot.
    """
    task_rows = _task_rows(data, settings, rng)
    total = 0.0
    for rows in task_rows:
        n_support = int(rng.integers(0, min(settings.max_support, len(rows) - 1) + 1))
        support = torch.as_tensor(rows[:n_support])
        query = torch.as_tensor(rows[n_support:n_support + settings.rows_per_task])
        embedding = data.embeddings[data.task_index[query[0]]]
        adapted = params
        if n_support >= 2:
            adapted = adapt(params, embedding, data.family[support],
                            data.hyperparameters[support], data.losses[support],
                            settings.adapt_steps, settings.adapt_lr)
        predictions = forward(adapted, embedding, data.family[query],
                              data.hyperparameters[query])
        loss = regression_loss(predictions, data.targets[query],
                               data.weights[:, query]) / len(task_rows)
        loss.backward()
        total += loss.item()
    return total
