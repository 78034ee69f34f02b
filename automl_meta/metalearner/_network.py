"""The surrogate network, written functionally over a dict of plain tensors.

Parameters carry a leading ensemble dimension, so the members of the ensemble run as one
batched computation; and since the network is a pure function of its parameters, MAML's
second-order meta-gradient is just ``torch.func.grad`` inside the outer loss.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

Params = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Architecture:
    """Sizes of the surrogate network (stored in a saved meta-learner's config)."""

    embedding_size: int  # task embedding: normalised meta-features plus a task bit
    n_families: int
    slot_width: int  # padded encoded hyperparameters
    task_size: int = 32
    family_size: int = 8
    hidden_size: int = 128
    n_members: int = 5

    def to_dict(self) -> dict:
        return asdict(self)


def _shapes(arch: Architecture) -> dict[str, tuple[int, ...]]:
    joint = arch.task_size + arch.family_size + arch.slot_width
    return {
        "task.weight": (arch.embedding_size, arch.task_size),
        "task.bias": (arch.task_size,),
        "family": (arch.n_families, arch.family_size),
        "hidden1.weight": (joint, arch.hidden_size),
        "hidden1.bias": (arch.hidden_size,),
        "hidden2.weight": (arch.hidden_size, arch.hidden_size),
        "hidden2.bias": (arch.hidden_size,),
        "out.weight": (arch.hidden_size, 1),
        "out.bias": (1,),
    }


def init_params(arch: Architecture, seed: int, device: torch.device) -> Params:
    """Fresh parameters: uniform fan-in initialisation, members drawn independently."""
    generator = torch.Generator().manual_seed(seed)
    params = {}
    for name, shape in _shapes(arch).items():
        if name == "family":
            value = torch.randn((arch.n_members, *shape), generator=generator) * 0.1
        else:
            fan_in = shape[0] if name.endswith("weight") else _shapes(arch)[
                name.replace("bias", "weight")][0]
            bound = 1.0 / math.sqrt(fan_in)
            value = (torch.rand((arch.n_members, *shape), generator=generator) * 2 - 1) * bound
        params[name] = value.to(device)
    return params


def forward(params: Params, embedding: torch.Tensor, family: torch.Tensor,
            hyperparameters: torch.Tensor) -> torch.Tensor:
    """Predicted normalised scores of shape (members, rows).

    ``embedding`` is (rows, embedding_size) or (embedding_size,) for one task shared by
    all rows; ``family`` holds family indices (rows,); ``hyperparameters`` (rows, width).
    """
    n_rows = family.shape[0]
    if embedding.dim() == 1:
        embedding = embedding.expand(n_rows, -1)
    task = torch.relu(torch.einsum("ni,mio->mno", embedding, params["task.weight"])
                      + params["task.bias"][:, None, :])
    members = params["family"].shape[0]
    joint = torch.cat([task, params["family"][:, family, :],
                       hyperparameters.expand(members, -1, -1)], dim=-1)
    hidden = torch.relu(torch.bmm(joint, params["hidden1.weight"])
                        + params["hidden1.bias"][:, None, :])
    hidden = torch.relu(torch.bmm(hidden, params["hidden2.weight"])
                        + params["hidden2.bias"][:, None, :])
    return (torch.bmm(hidden, params["out.weight"]) + params["out.bias"][:, None, :])[..., 0]
