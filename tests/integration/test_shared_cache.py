"""First use under concurrency: a shared cache folder is built once by real processes started
together, the others wait and use it, and a half-built folder is never used."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hrlaif.shared_cache import COMPLETE, build_once, exclusive_lock, is_complete

SRC = Path(__file__).resolve().parents[2] / "src"
PROCESSES = 3
DEADLINE_S = 300  # generous: a process start on a busy 2-core machine takes seconds, the work is bounded

# A child waits for the gate file, then asks for the folder; its build records its PID in a log (one
# line per build that ran) and takes a moment, so that the others arrive while it builds.
CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    gate, target, builds = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    deadline = time.monotonic() + 300
    while not gate.exists():
        assert time.monotonic() < deadline, "the gate never opened"
        time.sleep(0.01)
    from hrlaif.shared_cache import build_once

    def build(out):
        with builds.open("a") as log:
            log.write(f"{os.getpid()}\\n")
        (out / "part-1.txt").write_text("first half")
        if os.environ.get("KILL_WHILE_BUILDING"):
            os.kill(os.getpid(), 9)
        time.sleep(0.3)
        (out / "part-2.txt").write_text("second half")

    folder = build_once(target, build)
    print((folder / "part-1.txt").read_text(), (folder / "part-2.txt").read_text(), sep="|")
    """
)


def _start(tmp_path: Path, gate: Path, target: Path, builds: Path, index: int, **env) -> tuple[subprocess.Popen, Path]:
    err = tmp_path / f"child-{index}.err"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(gate), str(target), str(builds)],
        stdout=subprocess.PIPE, stderr=err.open("w"), text=True,
        env={**os.environ, "PYTHONPATH": str(SRC), **env},
    )
    return child, err


def _finish(children: list[tuple[subprocess.Popen, Path]]) -> list[str]:
    outputs = []
    for child, err in children:
        out, _ = child.communicate(timeout=DEADLINE_S)
        assert child.returncode == 0, err.read_text()
        outputs.append(out.strip())
    return outputs


def _leftovers(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir() if p.name.endswith(".tmp"))


def test_processes_started_together_build_once(tmp_path):
    gate, target, builds = tmp_path / "gate", tmp_path / "cache" / "model", tmp_path / "builds.log"
    children = [_start(tmp_path, gate, target, builds, i) for i in range(PROCESSES)]
    gate.touch()
    assert _finish(children) == ["first half|second half"] * PROCESSES
    assert len(builds.read_text().splitlines()) == 1
    assert is_complete(target) and _leftovers(target) == []


def test_processes_wait_for_a_build_in_progress(tmp_path):
    """The lock is held (as by a builder) while every process arrives: all of them must queue on
    it, say they are waiting, and then exactly one builds."""
    gate, target, builds = tmp_path / "gate", tmp_path / "cache" / "model", tmp_path / "builds.log"
    with exclusive_lock(target.with_name(f".{target.name}.lock")):
        children = [_start(tmp_path, gate, target, builds, i) for i in range(PROCESSES)]
        gate.touch()
        deadline = time.monotonic() + DEADLINE_S
        while not all("waiting" in err.read_text() for _, err in children):
            assert time.monotonic() < deadline, [err.read_text() for _, err in children]
            assert all(child.poll() is None for child, _ in children), [err.read_text() for _, err in children]
            time.sleep(0.05)
        assert not builds.exists()
    assert _finish(children) == ["first half|second half"] * PROCESSES
    assert len(builds.read_text().splitlines()) == 1


def test_a_build_killed_halfway_is_never_used(tmp_path):
    gate, target, builds = tmp_path / "gate", tmp_path / "cache" / "model", tmp_path / "builds.log"
    gate.touch()
    child, err = _start(tmp_path, gate, target, builds, 0, KILL_WHILE_BUILDING="1")
    child.communicate(timeout=DEADLINE_S)
    assert child.returncode == -signal.SIGKILL, err.read_text()
    assert not target.exists() and len(_leftovers(target)) == 1  # its half-written temporary folder

    # The dead builder's lock was dropped by the kernel: the next process builds, and clears the leftover.
    assert _finish([_start(tmp_path, gate, target, builds, 1)]) == ["first half|second half"]
    assert len(builds.read_text().splitlines()) == 2 and _leftovers(target) == []


def test_an_unmarked_folder_is_built_again(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "config.json").write_text("{}")  # e.g. left by an older hrlaif, or copied in by hand

    def build(out: Path) -> None:
        (out / "config.json").write_text('{"fresh": true}')

    assert build_once(target, build) == target
    assert is_complete(target) and (target / "config.json").read_text() == '{"fresh": true}'
    assert _leftovers(target) == []
    assert build_once(target, lambda out: pytest.fail("a complete folder is built again")) == target


def test_a_failed_build_leaves_nothing(tmp_path):
    target = tmp_path / "model"

    def broken(out: Path) -> None:
        (out / "half.bin").write_bytes(b"0" * 10)
        raise RuntimeError("conversion failed")

    with pytest.raises(RuntimeError, match="conversion failed"):
        build_once(target, broken)
    assert not target.exists() and _leftovers(target) == []
    build_once(target, lambda out: (out / "ok").write_text("ok"))
    assert (target / "ok").read_text() == "ok" and (target / COMPLETE).is_file()


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o755), (0o077, 0o700)])
def test_the_built_folder_follows_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        target = build_once(tmp_path / "model", lambda out: None)
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == mode


REAL_CHILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    gate, conversions = Path(sys.argv[1]), Path(sys.argv[2])
    deadline = time.monotonic() + 300
    while not gate.exists():
        assert time.monotonic() < deadline, "the gate never opened"
        time.sleep(0.01)
    import hrlaif.models as models

    convert = models._convert_gguf

    def counted(gguf, out):  # the real conversion, counted
        with conversions.open("a") as log:
            log.write(f"{os.getpid()}\\n")
        convert(gguf, out)

    models._convert_gguf = counted
    print(models.resolve_model(sys.argv[3]))
    """
)


def _embedded_gguf_or_skip() -> Path:
    from hrlaif.errors import HrlaifError
    from hrlaif.models import embedded_gguf

    try:
        return embedded_gguf()
    except HrlaifError as exc:
        pytest.skip(str(exc))


def _convert_together(tmp_path: Path, spec: str) -> Path:
    """PROCESSES processes released at one gate resolve `spec` on an empty cache; all succeed, one
    conversion ran, and they all got the same complete folder."""
    gate, conversions, cache = tmp_path / "gate", tmp_path / "conversions.log", tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(SRC), "HRLAIF_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    children = []
    for i in range(PROCESSES):
        err = tmp_path / f"child-{i}.err"
        children.append((subprocess.Popen([sys.executable, "-c", REAL_CHILD, str(gate), str(conversions), spec],
                                          stdout=subprocess.PIPE, stderr=err.open("w"), text=True, env=env), err))
    gate.touch()
    folders = set(_finish(children))
    assert len(conversions.read_text().splitlines()) == 1
    assert len(folders) == 1
    folder = Path(folders.pop())
    assert folder.parent == cache and is_complete(folder) and _leftovers(folder) == []
    return folder


def test_processes_started_together_convert_a_gguf_once(tmp_path, tiny_model):
    """A tiny F32 GGUF: the real conversion code, in seconds. The converted weights are the model's."""
    import torch

    from hrlaif.models import load_causal_lm, load_tokenizer

    from support.tiny_models import build_tiny_gguf

    folder = _convert_together(tmp_path, str(build_tiny_gguf(tiny_model, tmp_path / "tiny.gguf")))
    converted, original = load_causal_lm(folder).state_dict(), load_causal_lm(tiny_model).state_dict()
    assert converted.keys() == original.keys() and all(torch.equal(converted[k], original[k]) for k in original)
    text = "What is 12 + 7? The answer is 19."
    assert load_tokenizer(folder)(text).input_ids == load_tokenizer(tiny_model)(text).input_ids


@pytest.mark.slow
def test_processes_started_together_convert_the_embedded_model_once(tmp_path):
    _embedded_gguf_or_skip()
    folder = _convert_together(tmp_path, "smollm2")
    assert folder.name == "smollm2-135m-instruct"

    from hrlaif.models import generate, load_causal_lm, load_tokenizer

    model, tokenizer = load_causal_lm(folder), load_tokenizer(folder)
    [answer] = generate(model, tokenizer, [[{"role": "user", "content": "What is 2 + 2?"}]], max_new_tokens=8, temperature=0.0)
    assert answer.strip()
