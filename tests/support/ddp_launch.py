"""Start N CPU processes under `accelerate launch` (DDP over gloo on 127.0.0.1) for a test, with a
hard time limit: the launcher and its workers run in their own process group, killed whole when
the limit passes, so a stuck collective fails the test instead of hanging CI."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"  # tests/support/ddp_launch.py -> the repo root


def launcher() -> str:
    found = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or shutil.which("accelerate")
    assert found, "accelerate's launcher is not installed beside this Python"
    return found


def accelerate_launch(args: list[str], *, cwd: Path, processes: int = 2, timeout: float = 1200, extra: list[str] | None = None,
                      env: dict | None = None) -> subprocess.CompletedProcess:
    """`accelerate launch --multi_gpu --num_processes N ... ARGS` on the CPU. `--multi_gpu` with
    ACCELERATE_USE_CPU=1 is torchrun-style launching: N gloo processes (accelerate's `--cpu`
    with several processes wants MPI). Port 0: the launcher picks a free one."""
    command = [launcher(), "launch", "--multi_gpu", "--num_processes", str(processes), "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_ip", "127.0.0.1", "--main_process_port", "0",
               *(extra or []), *args]
    environment = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
                       ACCELERATE_USE_CPU="1", PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]), **(env or {}))
    process = subprocess.Popen(command, cwd=cwd, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the launcher and every worker it started
        out, err = process.communicate()
        raise AssertionError(f"accelerate launch ran past {timeout} s and was killed:\n{err[-3000:]}") from None
    return subprocess.CompletedProcess(command, process.returncode, out, err)
