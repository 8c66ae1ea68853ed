"""One command at a time on a run directory.

Two commands writing one run directory interleave their outputs (a PPO metrics file with steps
1, 1, 2, ...), pay the judge twice and overwrite each other's config. Every command that
writes a run directory therefore holds an exclusive lock on `RUN/.lock` for its whole life; a
second one fails at once with the holder's PID and command.

The lock is an OS lock (`flock`), not the file's existence: the kernel drops it when its holder
dies, even by SIGKILL, so a lock left by a dead process is simply taken over (and said so). The
file keeps the last holder's PID and command only to name it in messages.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shlex
import sys
import time
from pathlib import Path

from hrlaif.errors import HrlaifError

LOCK_NAME = ".lock"


def _describe(holder: dict) -> str:
    return f"PID {holder.get('pid', '?')} ({holder.get('command', 'unknown command')})"


def _read_holder(handle) -> dict:
    handle.seek(0)
    try:
        holder = json.loads(handle.read() or "{}")
    except json.JSONDecodeError:
        return {}
    return holder if isinstance(holder, dict) else {}


class RunLock:
    """An exclusive lock on one run directory, held until `release()` or the process ends."""

    def __init__(self, run_dir: Path, handle, previous: dict) -> None:
        self.run_dir = run_dir
        self._handle = handle
        self.previous = previous  # what the file said before: a dead holder's PID and command, or {}

    @classmethod
    def acquire(cls, run_dir: str | Path, command: str | None = None, *, create: bool = True) -> RunLock:
        """Lock `run_dir` (made if `create`), or raise HrlaifError naming the holder."""
        run_dir = Path(run_dir)
        if run_dir.exists() and not run_dir.is_dir():
            raise HrlaifError(f"{run_dir}: run directory is a file")
        if not create and not run_dir.is_dir():
            raise HrlaifError(f"{run_dir}: run directory not found")
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            handle = (run_dir / LOCK_NAME).open("a+", encoding="utf-8")
        except OSError as exc:
            raise HrlaifError(f"{run_dir}: cannot create the run directory's lock file ({exc.strerror or exc})") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(handle)
            handle.close()
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise HrlaifError(
                    f"{run_dir}: run directory is in use by {_describe(holder)}; wait for it to finish or use another --run-dir"
                ) from None
            raise HrlaifError(f"{run_dir}: cannot lock the run directory ({exc.strerror or exc})") from None
        previous = _read_holder(handle)
        me = {"pid": os.getpid(), "command": command or shlex.join(["hrlaif", *sys.argv[1:]]), "since": time.time()}
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(me))
        handle.flush()
        return cls(run_dir, handle, previous)

    @property
    def stale_note(self) -> str | None:
        """What to tell the user when the last holder died without releasing the lock (we got the
        OS lock, so it is no longer running)."""
        if self.previous.get("pid") is not None and not self.previous.get("released"):
            return f"{self.run_dir}: took over the lock left by {_describe(self.previous)}, which is no longer running"
        return None

    def release(self) -> None:
        if self._handle.closed:
            return
        holder = _read_holder(self._handle)
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(json.dumps(holder | {"released": True}))
        self._handle.flush()
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()
