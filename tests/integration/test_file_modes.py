"""Files hrlaif writes follow the umask like any other program's: readable by others under the usual
022, private under 077 (atomic writes used to create every JSON/JSONL/report file 0600)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from hrlaif.file_modes import current_umask
from hrlaif.jsonl import atomic_path, write_json, write_jsonl
from hrlaif.manifest import stage
from hrlaif.report import write_report


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture(params=[(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)], ids=["umask022", "umask077", "umask002"])
def umask_and_mode(request):
    umask, mode = request.param
    old = os.umask(umask)
    try:
        yield umask, mode
    finally:
        os.umask(old)


def test_written_files_follow_the_umask(tmp_path, umask_and_mode):
    umask, mode = umask_and_mode
    run = tmp_path / "run"
    with stage("sample", run / "sample", "fingerprint") as record:
        record.counts["samples"] = write_jsonl(run / "sample" / "samples.jsonl", [{"prompt": "p", "response": "r"}])
    write_json(run / "summary.json", {"n": 1})
    report = write_report(run)
    written = [run / "sample" / "samples.jsonl", run / "sample" / "manifest.json", run / "summary.json", report, report.with_name("report.md")]
    assert {p.name: _mode(p) for p in written} == {p.name: mode for p in written}
    assert os.umask(umask) == umask  # writing read or changed no umask
    assert not [p for p in run.rglob("*.tmp")]


def test_an_overwrite_takes_the_umask_too(tmp_path, umask_and_mode):
    _, mode = umask_and_mode
    path = tmp_path / "out.json"
    path.write_text("{}")
    path.chmod(0o600)
    write_json(path, {"fresh": True})
    assert _mode(path) == mode


def test_a_saved_model_follows_the_umask(tmp_path, tiny_model, umask_and_mode):
    """safetensors writes its weights 0600 whatever the umask; the saved folder must not stay private."""
    from transformers import AutoModelForCausalLM

    from hrlaif.models import load_tokenizer
    from hrlaif.train.checkpoints import save_model_folder

    _, mode = umask_and_mode
    save_model_folder(AutoModelForCausalLM.from_pretrained(tiny_model), load_tokenizer(tiny_model), tmp_path / "policy")
    files = {p.name: _mode(p) for p in (tmp_path / "policy").iterdir()}
    assert "model.safetensors" in files and files == dict.fromkeys(files, mode)


def test_the_converted_gguf_cache_follows_the_umask(tmp_path, tiny_model, umask_and_mode, monkeypatch):
    from hrlaif.models import resolve_model

    from support.tiny_models import build_tiny_gguf

    _, mode = umask_and_mode
    monkeypatch.setenv("HRLAIF_CACHE_DIR", str(tmp_path / "cache"))
    folder = Path(resolve_model(str(build_tiny_gguf(tiny_model, tmp_path / "tiny.gguf"))))
    assert _mode(folder) == mode | ((mode & 0o444) >> 2)  # a folder: x wherever r
    files = {p.name: _mode(p) for p in folder.iterdir()}
    assert "model.safetensors" in files and files == dict.fromkeys(files, mode)


def test_a_trained_reward_model_is_readable_by_others(tmp_path, tiny_model):
    from hrlaif.config import RewardConfig
    from hrlaif.records import Pair
    from hrlaif.train.reward import train_reward_model

    pairs = [Pair(prompt_id=f"p{i}", category="open_ended", prompt=[{"role": "user", "content": f"Question {i}?"}],
                  chosen=[{"role": "assistant", "content": f"A careful answer {i}."}],
                  rejected=[{"role": "assistant", "content": "no"}], provenance={"mode": "rlaif"}) for i in range(4)]
    old = os.umask(0o022)
    try:
        train_reward_model(pairs, str(tiny_model), RewardConfig(epochs=1, batch_size=2, eval_fraction=0.0), tmp_path / "rm", seed=7, max_length=64)
    finally:
        os.umask(old)
    files = {p.name: _mode(p) for p in (tmp_path / "rm" / "model").iterdir() if p.is_file()}
    assert "model.safetensors" in files and files == dict.fromkeys(files, 0o644)


def test_the_umask_is_read_without_changing_it(umask_and_mode, monkeypatch):
    umask, _ = umask_and_mode
    assert current_umask() == umask
    real_read = Path.read_text

    def no_proc(self, *args, **kwargs):
        if str(self) == "/proc/self/status":
            raise OSError("no /proc here")
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", no_proc)
    assert current_umask() == umask & 0o666  # the probe file, where /proc cannot be read, sees the bits a file can have
    assert os.umask(umask) == umask


def test_atomic_writes_from_threads_do_not_collide(tmp_path):
    """Temporary names are random and created exclusively: threads writing one file all succeed,
    and the file holds one whole version."""
    path = tmp_path / "shared.json"
    errors: list[Exception] = []

    def writer(i: int) -> None:
        try:
            for _ in range(20):
                with atomic_path(path) as tmp:
                    tmp.write_text(f'{{"writer": {i}}}\n')
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert path.read_text() in {f'{{"writer": {i}}}\n' for i in range(4)}
    assert [p.name for p in tmp_path.iterdir()] == ["shared.json"]
