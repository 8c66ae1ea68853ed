"""The shipped accelerate configs (src/hrlaif/configs/accelerate/) load with accelerate's own
loader and say what they claim; PPO refuses DeepSpeed with a clear error instead of failing in
`prepare`."""

from __future__ import annotations

from pathlib import Path

import pytest
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.utils import DistributedType

from hrlaif.errors import HrlaifError
from hrlaif.train.ppo import refuse_deepspeed

FOLDER = Path(__file__).resolve().parents[2] / "src" / "hrlaif" / "configs" / "accelerate"


@pytest.mark.parametrize(
    ("name", "kind", "check"),
    [
        ("ddp", DistributedType.MULTI_GPU, lambda c: True),
        ("zero2", DistributedType.DEEPSPEED, lambda c: c.deepspeed_config["zero_stage"] == 2),
        ("zero3", DistributedType.DEEPSPEED, lambda c: c.deepspeed_config["zero_stage"] == 3 and c.deepspeed_config["zero3_save_16bit_model"]),
        ("fsdp", DistributedType.FSDP, lambda c: c.fsdp_config["fsdp_version"] == 2),
    ],
)
def test_each_config_loads_as_accelerate_reads_it(name, kind, check) -> None:
    config = load_config_from_file(str(FOLDER / f"{name}.yaml"))
    assert config.distributed_type == kind and check(config)
    assert config.mixed_precision == "bf16" and not config.use_cpu
    assert f"configs/accelerate/{name}.yaml" in (FOLDER / f"{name}.yaml").read_text(), "its header shows how to launch it"


def test_the_configs_ship_in_the_wheel() -> None:
    pyproject = (FOLDER.parents[3] / "pyproject.toml").read_text()
    assert '"configs/accelerate/*.yaml"' in pyproject


def test_ppo_refuses_deepspeed_and_names_what_works() -> None:
    with pytest.raises(HrlaifError, match="ppo under DeepSpeed is not supported yet.*configs/accelerate/ddp.yaml"):
        refuse_deepspeed(DistributedType.DEEPSPEED)
    for other in (DistributedType.NO, DistributedType.MULTI_GPU, DistributedType.MULTI_CPU, DistributedType.FSDP):
        refuse_deepspeed(other)


def test_commands_under_several_processes_stop_every_rank_with_what_works(tmp_path) -> None:
    """Only train-rm and ppo are rank-aware (tests/e2e/test_cli_ddp.py runs them in 2 processes); the
    others stop on every rank before the run lock or any file, naming the ones that work."""
    from typer.testing import CliRunner

    from hrlaif.cli import app

    run = tmp_path / "run"
    for command in (["sample"], ["label", "--mode", "rlaif"], ["run"], ["compare"]):
        result = CliRunner().invoke(app, [*command, "--run-dir", str(run)], env={"WORLD_SIZE": "2", "RANK": "1"})
        assert result.exit_code == 2, result.output
        text = " ".join(result.output.split())
        assert "this hrlaif command runs as one process (WORLD_SIZE=2)" in text and "only train-rm and ppo run" in text, text
        assert not run.exists(), "nothing written, no lock taken"
    result = CliRunner().invoke(app, ["train-rm", "--run-dir", str(run), "--mode", "rlaif"], env={"WORLD_SIZE": "1"})
    assert "WORLD_SIZE" not in result.output  # one process: the command goes on (and stops later: no labels here)
