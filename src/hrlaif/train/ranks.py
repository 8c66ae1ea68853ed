"""One `hrlaif` training command in several processes (`accelerate launch --num_processes N -m hrlaif ppo ...`).

Rank 0 runs the command as it would alone: it reads the inputs, decides whether the stage is
already complete, and is the only writer of manifests, model folders, metrics and summaries. The
other ranks run none of that. They wait for rank 0's training calls (functions marked
`@led_by_rank_zero`: `train_reward_model`, `train_ppo`) and make the same call with the
arguments rank 0 sends, so every collective step of DDP or FSDP has all ranks while the stage's
decisions are taken once. When rank 0's command ends, the others hear of it and end with exit
code 0, leaving the launch's exit code and its one error message to rank 0 (`follow`).

The training functions called from a script of one's own under `accelerate launch` (every rank
calls them itself) are unaffected: only a command started by `lead()` shares its calls.
"""

from __future__ import annotations

import functools
import importlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from hrlaif.errors import HrlaifError

# torch and accelerate are imported inside the functions on purpose: every hrlaif command imports
# this module (cli._refuse_several_processes) and `hrlaif --help` must not load torch.

COMMANDS = ("train-rm", "ppo")  # the hrlaif commands that run under several processes

_leading = False  # this process is rank 0 of a command that shares its training calls
_in_call = False  # rank 0 is inside a shared call (the other ranks are in it too)
_call_failed = False  # a shared call raised on rank 0: the others may be stuck in a collective


def world_size() -> int:
    """The process count `accelerate launch` / torchrun set (1 when not launched by one)."""
    value = os.environ.get("WORLD_SIZE", "1")
    return int(value) if value.isdigit() else 1


def cpu_only() -> bool:
    """Whether accelerate should run on the CPU: asked to (ACCELERATE_USE_CPU), or no accelerator."""
    import torch
    from accelerate.utils import parse_flag_from_env

    if parse_flag_from_env("ACCELERATE_USE_CPU"):
        return True
    xpu = getattr(torch, "xpu", None)
    return not (torch.cuda.is_available() or torch.backends.mps.is_available() or (xpu is not None and xpu.is_available()))


def _state():
    """Accelerate's process state, joining the process group the launcher set up (gloo on the CPU,
    NCCL on GPUs). On the CPU `cpu=True` is what makes it a process group at all (as TRL's
    `use_cpu` and ACCELERATE_USE_CPU do); a launch it cannot join stops every rank alike."""
    from accelerate import PartialState

    state = PartialState(cpu=cpu_only())
    if state.num_processes != world_size():
        raise HrlaifError(f"WORLD_SIZE={world_size()} but accelerate joined {state.num_processes} process(es) "
                          f"({state.distributed_type}); launch with accelerate launch --multi_gpu --num_processes N")
    return state


def _broadcast(message: Any) -> Any:
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([message], from_process=0)[0]


def _leave_group() -> list[int]:
    """End this rank's part in the process group in order, once every rank has read the last
    message: a process that exits with the group still open may abort in its teardown
    ("terminate called without an active exception", SIGABRT; seen under load), and the
    launcher then reports that signal instead of rank 0's exit code. Returns, on rank 0, the
    process ids of the other ranks on its machine (for `_outlive`)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return []
    here = os.environ.get("GROUP_RANK", "0")  # the machine's index in the launch (torchrun sets it)
    ranks: list = [None] * dist.get_world_size()
    dist.all_gather_object(ranks, (here, os.getpid()))  # also the barrier: every rank has read "done"
    leading = dist.get_rank() == 0
    dist.destroy_process_group()
    return [pid for group, pid in ranks[1:] if group == here] if leading else []


def _outlive(pids: list[int], limit_s: float = 60.0) -> None:
    """Rank 0 waits (at most `limit_s`) until the other ranks on its machine have exited. The
    launcher stops every other rank with SIGTERM as soon as one exits non-zero and lists those
    as failures too: when rank 0 ends last, its exit code is the only failure reported."""
    deadline = time.monotonic() + limit_s
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    """Whether `pid` still runs (an exited child not yet reaped by the launcher has ended)."""
    if os.path.isdir("/proc/self"):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False
    try:  # no /proc (macOS): ask the kernel whether the process exists
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def is_leading() -> bool:
    """Whether this process is rank 0 of a command that shares its training calls."""
    return _leading


def is_main_process() -> bool:
    """Whether this process is rank 0 (joining the process group when launched with several)."""
    return world_size() == 1 or _state().is_main_process


@contextmanager
def lead() -> Iterator[None]:
    """Rank 0's side of a command: its `@led_by_rank_zero` calls are sent to the other ranks
    first; when the command ends they hear its exit code (2 for a user error, 1 otherwise), and
    rank 0 waits for the ones on its machine to exit before it goes on to print and exit.
    After a shared call failed the others may wait inside one of its collectives, where a
    message would not reach them: then nothing is sent, and the launcher ends them when rank 0
    exits with an error."""
    global _leading, _call_failed
    _state()
    _leading, _call_failed = True, False
    code = 1
    try:
        yield
        code = 0
    except HrlaifError:
        code = 2
        raise
    finally:
        _leading = False
        if not _call_failed:
            try:
                _broadcast(("done", code))
                _outlive(_leave_group())
            except Exception:
                if code == 0:
                    raise  # otherwise rank 0's own error is the one to show


def follow() -> int:
    """A rank other than 0: make each training call rank 0 makes, until its command ends.
    Returns rank 0's exit code, for the record: the caller ends this rank with 0 whatever it is.
    The launcher (torchrun's agent) stops every other rank with SIGTERM as soon as one exits
    non-zero and reports that one first; a follower ending with rank 0's code could be seen
    before rank 0 and kill it before it printed its error, so the launch would end with a signal
    and no message. A follower that exits 0 lets the launcher wait for rank 0 alone."""
    state = _state()
    while True:
        message = _broadcast(None)
        if message[0] == "done":
            _leave_group()
            return message[1]
        _, module, name, args, kwargs = message
        try:
            getattr(importlib.import_module(module), name)(*args, **kwargs)
        except HrlaifError as exc:
            raise HrlaifError(f"rank {state.process_index}: {exc}") from None


def led_by_rank_zero(fn: Callable) -> Callable:
    """Mark a training function that every rank must call together: under `lead()` rank 0
    sends the call (its module, name and arguments) to the other ranks, then runs it."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        global _in_call, _call_failed
        if not _leading or _in_call:
            return fn(*args, **kwargs)
        _broadcast(("call", fn.__module__, fn.__qualname__, args, kwargs))
        _in_call = True
        try:
            return fn(*args, **kwargs)
        except BaseException:
            _call_failed = True
            raise
        finally:
            _in_call = False

    return wrapper
