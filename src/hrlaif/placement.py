"""Where models run and in which precision: the device and dtypes of this process.

A low module on its own so that both the loaders (`hrlaif.models`) and every stage's manifest
(`hrlaif.manifest`, which records it) can use it without the manifest importing the loaders.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch

from hrlaif.errors import HrlaifError


class Placement(NamedTuple):
    """Where a model runs and in which precision."""

    device: torch.device
    dtype: torch.dtype


_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def pick_placement(*, for_training: bool = False) -> Placement:
    """The accelerator when there is one (CUDA, else Apple MPS), else the CPU; $HRLAIF_DEVICE
    (cpu, cuda, cuda:1, mps) overrides. Models that only run forward (generation, the local judge,
    scoring, PPO's frozen reference and RM) are bf16 on a CUDA device that supports it, halving
    their memory and doubling matmul throughput; fp32 everywhere else, since CPU bf16 matmuls are
    slow and fp16 overflows. Trained weights stay fp32 (`for_training`): the trainer (TRL,
    Accelerate) runs them under bf16 autocast and keeps fp32 master weights for AdamW.
    $HRLAIF_DTYPE (float32, bfloat16, float16) overrides the inference dtype."""
    wanted = os.environ.get("HRLAIF_DEVICE", "").strip()
    if wanted:
        try:
            device = torch.device(wanted)
        except RuntimeError:
            raise HrlaifError(f"HRLAIF_DEVICE={wanted!r}: not a torch device (cpu, cuda, cuda:1, mps)") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise HrlaifError(f"HRLAIF_DEVICE={wanted!r}: torch sees no CUDA device here")
    elif torch.cuda.is_available():
        device = torch.device("cuda", torch.cuda.current_device())
    elif torch.backends.mps.is_available():
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    if for_training:
        return Placement(device, torch.float32)
    name = os.environ.get("HRLAIF_DTYPE", "").strip()
    if name:
        if name not in _DTYPES:
            raise HrlaifError(f"HRLAIF_DTYPE={name!r}: expected one of {', '.join(_DTYPES)}")
        return Placement(device, _DTYPES[name])
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return Placement(device, torch.bfloat16 if bf16 else torch.float32)


def training_precision() -> str | None:
    """Mixed precision for a trainer: "bf16" on a CUDA device that supports it, "no" elsewhere;
    None when `accelerate launch` set one (ACCELERATE_MIXED_PRECISION), so its config decides."""
    if os.environ.get("ACCELERATE_MIXED_PRECISION"):
        return None
    device = pick_placement(for_training=True).device
    return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "no"


def describe_placement() -> dict:
    """What a manifest records: the device and dtypes models of this process load with."""
    used = pick_placement()
    described = {"device": str(used.device), "dtype": str(used.dtype).removeprefix("torch."),
                 "train_dtype": "float32", "mixed_precision": training_precision() or os.environ["ACCELERATE_MIXED_PRECISION"]}
    if used.device.type == "cuda":
        described["device_name"] = torch.cuda.get_device_name(used.device)
    return described
