"""A killable worker process: the only way to put a hard deadline on a sympy computation.

A thread cannot be stopped in Python and sympy holds the GIL, so a check that may run for
ever (a power tower, deep nesting) runs in a long-lived child process instead; when a call
passes its deadline the child is killed and a replacement boots in the background. The child
also caps its own address space (a crafted input fails with MemoryError instead of swapping
the machine) and its CPU time (if the parent dies mid-call, the child does not compute on).

The worker runs named functions of one module (its ``CALLS``), one JSON request a line on
stdin, one JSON reply a line on stdout. Arguments and results must be JSON.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["CallFailed", "CallTimedOut", "Worker"]

# Starting the first worker (importing sympy and math_verify) is not charged to a call's
# deadline; a replacement started after a timeout is (it boots in the background meanwhile).
WORKER_STARTUP_S = 60.0
# Address-space cap for the worker, so a crafted power tower fails with MemoryError instead of
# swapping the machine.
WORKER_MEMORY_BYTES = 2 * 1024**3

_SRC_ROOT = Path(__file__).resolve().parents[2]
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from hrlaif.verify.worker import _serve; _serve(sys.argv[2])"


class CallTimedOut(Exception):
    """The call did not finish by its deadline (the worker was killed, or is still booting)."""


class CallFailed(Exception):
    """The call raised, or the worker died under it (memory or CPU limit, a crash)."""


# ---------------------------------------------------------------------------------------------
# Inside the worker process


def _serve(module_name: str) -> None:
    """Worker main loop: one JSON request a line on stdin, one JSON reply a line on stdout."""
    import resource
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = WORKER_MEMORY_BYTES if hard == resource.RLIM_INFINITY else min(hard, WORKER_MEMORY_BYTES)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):
        pass
    # Keep the protocol channel private: anything a library prints goes to stderr instead.
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    module = importlib.import_module(module_name)
    module.warm_up()  # import and warm up before saying ready
    proto.write('{"ready": true}\n')
    for line in sys.stdin:
        request: Any = {}
        try:
            request = json.loads(line)
            _limit_cpu(float(request.get("timeout", 2.0)))
            if request["call"] not in module.CALLS:
                raise ValueError(f"{request['call']!r} is not a worker call")
            reply = {"value": getattr(module, request["call"])(*request["args"])}
        except Exception as exc:  # noqa: BLE001 - MemoryError, RecursionError, parser bugs
            reply = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        if not isinstance(request, dict):
            request = {}
        proto.write(json.dumps({"id": request.get("id"), **reply}) + "\n")


def _limit_cpu(timeout_s: float) -> None:
    """Let the kernel kill this worker if one call runs far past its deadline.

    The parent kills it on time; this guards the case where the parent died mid-call and the
    worker would otherwise compute a power tower forever.
    """
    import resource

    try:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        soft = int(usage.ru_utime + usage.ru_stime + timeout_s) + 10
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ValueError, OSError):
        pass


# ---------------------------------------------------------------------------------------------
# In the calling process


class Worker:
    """One long-lived process running `module`'s calls; killed and restarted when a call overruns.

    Calls are serialised by a lock; a call's deadline starts when it is made. Where no process
    can be started at all, a call runs in a daemon thread that is abandoned at its deadline.
    """

    def __init__(self, module: str) -> None:
        self.module = module
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._owner_pid = os.getpid()
        self._buffer = b""
        self._next_id = 0
        self._ready = False
        self._restarted = False  # a replacement's boot counts against the call that waits for it
        # Seconds spent waiting for first boots, which no deadline is charged for: a caller that
        # spreads one deadline over several calls adds this back.
        self.free_boot_s = 0.0
        atexit.register(self.stop)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._reset_after_fork)

    def call(self, name: str, args: list[Any], timeout_s: float) -> Any:
        """`module.name(*args)` within `timeout_s`; CallTimedOut or CallFailed otherwise."""
        try:
            return self._call_in_process(name, args, timeout_s)
        except OSError:
            return self._call_in_thread(name, args, timeout_s)

    def start(self) -> None:
        """Boot the process now (importing sympy takes seconds), so the first call does not wait
        for it; where no process can start, calls will run in threads, as `call` says."""
        with self._lock:
            try:
                if self._proc is None or self._proc.poll() is not None:
                    self.stop()
                    self._spawn()
                if not self._ready:
                    self._await_ready(time.monotonic() + WORKER_STARTUP_S)
            except OSError:
                pass

    def _reset_after_fork(self) -> None:
        # A forked child (e.g. a DataLoader worker) must not share the parent's pipes or lock;
        # it closes its copies (the parent's stay open) and starts its own worker when needed.
        self._lock = threading.Lock()
        proc, self._proc = self._proc, None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout):
                try:
                    if stream is not None:
                        stream.close()
                except (OSError, ValueError):
                    pass
        self._owner_pid = os.getpid()
        self._buffer = b""

    def _spawn(self) -> None:
        """Start a worker without waiting for it: after a kill the replacement boots while the
        caller moves on, so the next call rarely waits for it."""
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, str(_SRC_ROOT), self.module],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            # sympy may pull in numpy lazily; one BLAS thread keeps it under the memory cap
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
        )
        self._buffer = b""
        self._ready = False

    def _await_ready(self, deadline: float) -> bool:
        """True once the worker said it is ready; False if `deadline` passed first."""
        try:
            line = self._readline(deadline)
        except EOFError:
            line = b"{}"
        if line is None:
            return False
        try:
            ready = json.loads(line) == {"ready": True}
        except ValueError:
            ready = False
        if not ready:
            self.stop()
            raise OSError("the worker process did not start")
        self._ready = True
        return True

    def _readline(self, deadline: float) -> bytes | None:
        """One reply line, None if the deadline passes; EOFError if the worker died."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        poller = select.poll()  # not select.select: it fails on descriptors above 1023
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if not poller.poll(max(1, int(remaining * 1000))):
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                raise EOFError
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if os.getpid() == self._owner_pid:
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass

    def _call_in_process(self, name: str, args: list[Any], timeout_s: float) -> Any:
        with self._lock:
            deadline = time.monotonic() + timeout_s
            if self._owner_pid != os.getpid():
                self._reset_after_fork()
            if self._proc is None or self._proc.poll() is not None:
                self.stop()
                self._spawn()
            if not self._ready:
                # The first boot (importing sympy) is free; a replacement's boot is charged.
                boot_started = time.monotonic()
                boot_deadline = deadline if self._restarted else boot_started + WORKER_STARTUP_S
                if not self._await_ready(boot_deadline):
                    raise CallTimedOut(f"no decision within {timeout_s:g}s (checker restarting)")
                if not self._restarted:
                    self.free_boot_s += time.monotonic() - boot_started
            assert self._proc is not None and self._proc.stdin is not None
            self._next_id += 1
            request = {"id": self._next_id, "call": name, "args": args, "timeout": timeout_s}
            try:
                self._proc.stdin.write((json.dumps(request) + "\n").encode("utf-8"))
                self._proc.stdin.flush()
                line = self._readline(deadline if self._restarted else time.monotonic() + timeout_s)
            except (EOFError, BrokenPipeError, OSError):
                self.stop()
                raise CallFailed("the worker died (memory or CPU limit)") from None
            if line is None:
                self.stop()  # the only way to stop a runaway sympy computation
                self._spawn()
                self._restarted = True
                raise CallTimedOut(f"no decision within {timeout_s:g}s")
            try:
                reply = json.loads(line)
            except ValueError:
                reply = {}
            if not isinstance(reply, dict) or reply.get("id") != self._next_id:
                self.stop()
                raise CallFailed("the worker answered out of turn")
            if "error" in reply:
                raise CallFailed(reply["error"])
            return reply["value"]

    def _call_in_thread(self, name: str, args: list[Any], timeout_s: float) -> Any:
        """Fallback when no process can be started: a daemon thread, abandoned on timeout."""
        function = getattr(importlib.import_module(self.module), name)
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["value"] = function(*args)
            except Exception as exc:  # noqa: BLE001 - reported to the caller as CallFailed
                box["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"

        thread = threading.Thread(target=run, name=f"hrlaif-worker-{name}", daemon=True)
        thread.start()
        thread.join(timeout_s)
        if thread.is_alive():
            raise CallTimedOut(f"no decision within {timeout_s:g}s (computation left running)")
        if "error" in box:
            raise CallFailed(box["error"])
        # JSON round trip, as from the process: tuples become lists on both paths
        return json.loads(json.dumps(box["value"]))
