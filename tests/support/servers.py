"""Real OpenAI-compatible servers: llama-cpp-python's server on a GGUF, for tests and benchmarks.

One launcher (`LlamaServer`) serves both, so a benchmark measures the server as the tests run
it. Use the fixture from a test module with `from support.servers import llama_server  # noqa: F401`;
it yields the base URL (`http://127.0.0.1:<port>/v1`) of a server started once per session.
The server always stops (SIGTERM to its own process group, then SIGKILL), Ctrl-C included.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

# On this machine's VM the CPU advertises AMX (cpuinfo flags amx_tile/amx_int8) and the
# natively compiled llama.cpp uses it for batched matmuls, but the VM does not enable AMX tile
# state: the first prompt of more than a few tokens dies with SIGILL at `tileloadd`/`tilezero`
# in libggml-cpu.so (dmesg: "trap invalid opcode"). With a physical batch of 1 that code path
# is never taken, and it is also the fastest setting here: 101 prompt tokens took 1.25 s with
# n_batch=n_ubatch=1 vs 7.3 s (8, AMX buffers off) and 31 s (32, AMX buffers off).
SAFE_BATCH_ARGS = ["--n_batch", "1", "--n_ubatch", "1"]

# `python -m llama_cpp.server` with llama.cpp's "extra buffer types" (weights repacked for AMX /
# AVX-512 kernels) turned off: the same VM dies with SIGILL (`tilezero`) on the first completion
# when they are on, whatever the batch size. The two workarounds together run everywhere, and a
# 135M model does not miss the speed.
LAUNCHER = """
import runpy, sys
import llama_cpp.llama_cpp as C
_default = C.llama_model_default_params
def _params():
    params = _default()
    if hasattr(params, "use_extra_bufts"):
        params.use_extra_bufts = False
    return params
C.llama_model_default_params = _params
sys.argv = ["llama_cpp.server", *sys.argv[1:]]
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def served_models(base_url: str, timeout: float = 2.0) -> list[str]:
    with urllib.request.urlopen(f"{base_url}/models", timeout=timeout) as response:
        return [m["id"] for m in json.load(response)["data"]]


# The server extra compiles for ~10 minutes, so only the test setup installs it (issue 26).
SERVER_MISSING = "llama-cpp-python's server is not installed (the 'server' extra): bash scripts/setup.sh --test, or pip install 'hrlaif[server]'"


class LlamaServer:
    """`python -m llama_cpp.server` on a GGUF, on a free loopback port, in its own process group.

    Use as a context manager: `base_url`, `model` (the served name) and `start_s` are set once
    /v1/models answers; the server is stopped on exit, whatever happened inside.
    """

    def __init__(
        self, gguf: Path, log_path: Path, *, n_ctx: int = 2048, n_threads: int = 2, start_timeout_s: float = 180.0,
        extra_args: list[str] | None = None,
    ) -> None:
        self.gguf, self.log_path, self.n_ctx, self.n_threads = Path(gguf), Path(log_path), n_ctx, n_threads
        self.extra_args = list(SAFE_BATCH_ARGS if extra_args is None else extra_args)
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen | None = None
        self.command: list[str] = []
        self.base_url = ""
        self.model = ""
        self.start_s = 0.0

    def __enter__(self) -> LlamaServer:
        if importlib.util.find_spec("llama_cpp") is None:
            raise RuntimeError(SERVER_MISSING)
        port = free_port()
        self.command = [
            sys.executable, "-c", LAUNCHER, "--model", str(self.gguf), "--host", "127.0.0.1",
            "--port", str(port), "--n_ctx", str(self.n_ctx), "--n_threads", str(self.n_threads), *self.extra_args,
        ]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        started = time.perf_counter()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + self.start_timeout_s
            while True:
                if self.proc.poll() is not None:
                    tail = self.log_path.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"llama_cpp.server exited with {self.proc.returncode} before serving:\n{tail}")
                try:
                    models = served_models(self.base_url)
                    if models:
                        self.model = models[0]
                        break
                except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, ValueError, KeyError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"llama_cpp.server did not answer /v1/models within {self.start_timeout_s:.0f}s")
                time.sleep(0.25)
        except BaseException:
            self.stop()
            raise
        self.start_s = time.perf_counter() - started
        return self

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory) -> Iterator[str]:
    """Base URL of llama-cpp-python's OpenAI-compatible server on the embedded SmolLM2 GGUF."""
    try:
        import llama_cpp.server  # noqa: F401
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{SERVER_MISSING} (CI must run the server tests)")
        pytest.skip(SERVER_MISSING)
    from hrlaif.models import embedded_gguf

    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    with LlamaServer(embedded_gguf(), log_path) as server:
        yield server.base_url
