"""A run whose output is not a terminal draws no library progress bar (issue 26): transformers'
"Loading weights" and "Writing model shards" bars and datasets' map bars write carriage-return
redraws into a file whatever the terminal, once per model a stage loads or saves, e.g. into a
study labeler's RUN/NAME/study.log (a process the CLI's own switches never reach).
`quiet_library_bars` (called by `Pipeline.run`) turns them off there; $HRLAIF_VERBOSE keeps them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
WORK = """
import sys, datasets
from hrlaif.environment import quiet_library_bars
from hrlaif.models import load_causal_lm
quiet_library_bars()
load_causal_lm(sys.argv[1]).save_pretrained(sys.argv[2])
datasets.Dataset.from_dict({"n": list(range(50))}).map(lambda row: row, desc="Tokenizing")
"""


def work_into_file(model: Path, tmp: Path, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "HRLAIF_VERBOSE"}
    environ |= {"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(SRC), **env}
    log = tmp / "out.log"
    with log.open("w") as out:  # a file, not a terminal
        done = subprocess.run([sys.executable, "-c", WORK, str(model), str(tmp / "saved")], stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, env=environ, timeout=300)
    text = log.read_bytes().decode()  # not read_text(): it would turn a bar's \r into \n
    assert done.returncode == 0, text[-3000:]
    return text


def test_no_library_progress_bar_in_a_file(tmp_path, tiny_model):
    text = work_into_file(tiny_model, tmp_path)
    assert "\r" not in text and "Loading weights" not in text and "Tokenizing" not in text, text[-2000:]


def test_hrlaif_verbose_keeps_the_libraries_bars(tmp_path, tiny_model):
    text = work_into_file(tiny_model, tmp_path, HRLAIF_VERBOSE="1")
    assert all(bar in text for bar in ("Loading weights", "Writing model shards", "Tokenizing")), text[-2000:]
