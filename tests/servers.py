"""Real OpenAI-compatible servers for tests: llama-cpp-python's server on the embedded GGUF.

Use the fixture from a test module with `from servers import llama_server  # noqa: F401`; it
yields the base URL (`http://127.0.0.1:<port>/v1`) of a server started once per session and
always stops it (SIGTERM to its process group, then SIGKILL).
"""

from __future__ import annotations

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
from contextlib import contextmanager
from pathlib import Path

import pytest

# `python -m llama_cpp.server`, with one change: llama.cpp's "extra buffer types" (weights
# repacked for AMX / AVX-512 kernels) are turned off. A natively built llama-cpp-python on a VM
# whose CPUID advertises AMX but whose hypervisor does not enable it dies with SIGILL
# (`tilezero`) on the first completion; without the repacked buffers it runs everywhere, and a
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


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
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


@contextmanager
def llama_cpp_server(model: Path, log_path: Path, *, n_ctx: int = 2048, start_timeout_s: float = 180.0) -> Iterator[str]:
    """Run `python -m llama_cpp.server` (see LAUNCHER) on `model`; yield its base URL once /v1/models answers."""
    port = free_port()
    command = [
        sys.executable, "-c", LAUNCHER, "--model", str(model),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
    ]
    base_url = f"http://127.0.0.1:{port}/v1"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"llama_cpp.server exited with {proc.returncode} before serving:\n{tail}")
            try:
                if served_models(base_url):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not answer /v1/models within {start_timeout_s:.0f}s")
            time.sleep(0.25)
        yield base_url
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory) -> Iterator[str]:
    """Base URL of llama-cpp-python's OpenAI-compatible server on the embedded SmolLM2 GGUF."""
    pytest.importorskip("llama_cpp.server", reason="needs llama-cpp-python[server] (pip install 'hrlaif[server]')")
    from hrlaif.models import embedded_gguf

    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    with llama_cpp_server(embedded_gguf(), log_path) as base_url:
        yield base_url
