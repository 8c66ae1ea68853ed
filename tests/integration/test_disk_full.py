"""A full disk, for real: a small tmpfs mounted for the test (root only, as CI runs).

Each writer must end in one clear error that names what it was writing and leave no temporary
file or half-written checkpoint behind.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from typer.testing import CliRunner

from hrlaif.cli import app
from hrlaif.errors import HrlaifError

from support.ppo import reward_model_path, run, tiny_config  # noqa: F401 - reward_model_path is a fixture


@pytest.fixture
def small_disk(tmp_path):
    """A 512 KiB tmpfs (a tiny PPO checkpoint takes ~800 KiB), unmounted afterwards."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount_point)], capture_output=True, text=True)
    if done.returncode != 0:
        if os.environ.get("CI") == "true" and os.geteuid() == 0:
            pytest.fail(f"CI runs as root and must be able to mount a tmpfs: {done.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_verify_on_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, small_disk):
    src = tmp_path / "in.jsonl"
    row = {"category": "math", "reference": "19", "response": "The answer is 19. " + "padding " * 400}
    src.write_text("".join(json.dumps(row) + "\n" for _ in range(1200)))  # ~4 MB of output for a 512 KiB disk
    out = small_disk / "verified.jsonl"
    result = CliRunner().invoke(app, ["verify", str(src), "-o", str(out)])
    assert result.exit_code == 2, result.output[-2000:]
    errors = result.stderr.strip().splitlines()
    assert errors == [f"error: disk full while writing {out}; nothing of it was kept"]
    assert list(small_disk.iterdir()) == []  # no temporary file left behind


def test_ppo_checkpoint_on_a_full_disk_is_removed(tiny_model, reward_model_path, small_disk):  # noqa: F811
    out = small_disk / "ppo"
    with pytest.raises(HrlaifError, match=r"disk full while writing checkpoint .*step-00001; the partial checkpoint was removed"):
        run(tiny_config(steps=1, checkpoint_every=1), tiny_model, reward_model_path, out)
    assert not list((out / "checkpoints").glob(".tmp-*")) and not list((out / "checkpoints").glob("step-*"))


def test_resume_drops_a_torn_last_metrics_line(tiny_model, reward_model_path, tmp_path, caplog):  # noqa: F811
    out = tmp_path / "ppo"
    run(tiny_config(steps=1, checkpoint_every=1), tiny_model, reward_model_path, out)
    metrics = out / "metrics.jsonl"
    with metrics.open("a") as handle:
        handle.write('{"objective/score_mean": 0.1, "charts/st')  # power lost in the middle of a row
    run(tiny_config(steps=2, checkpoint_every=1), tiny_model, reward_model_path, out)
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [row["charts/step"] for row in rows] == [1, 2]
    assert "dropped a torn last line" in caplog.text


def test_a_bad_metrics_line_in_the_middle_is_an_error_naming_it(tiny_model, reward_model_path, tmp_path):  # noqa: F811
    out = tmp_path / "ppo"
    run(tiny_config(steps=1, checkpoint_every=1), tiny_model, reward_model_path, out)
    metrics = out / "metrics.jsonl"
    metrics.write_text("not json\n" + metrics.read_text())
    with pytest.raises(HrlaifError, match=rf"{metrics}:1: not a JSON metrics row"):
        run(tiny_config(steps=2, checkpoint_every=1), tiny_model, reward_model_path, out)


def test_ratings_store_on_a_full_disk_names_its_file(small_disk):
    """A rater added (or a rating imported) when RUN/human/ratings.sqlite cannot grow: one line naming
    the store and saying the change was not saved, not "the judge cache" (issue 27)."""
    from support.human_run import plain_responses, write_eval

    run = write_eval(small_disk / "run", plain_responses(("start", "rlaif")))
    assert CliRunner().invoke(app, ["human-eval", "add-rater", str(run), "ann"]).exit_code == 0
    filler = small_disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:  # take every byte left
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    result = CliRunner().invoke(app, ["human-eval", "add-rater", str(run), "b" * 80])
    assert result.exit_code == 2, result.output
    line = result.stderr.strip()
    assert "Traceback" not in result.output and len(line.splitlines()) == 1, line
    assert "ratings.sqlite" in line and "not saved" in line and "judge cache" not in line, line
    filler.unlink()
    from hrlaif.human.store import RatingStore

    assert sorted(RatingStore.open(run).raters().values()) == ["ann"]  # the one added before is kept, nothing half-added
