"""`policy.backend: openai` against a real llama.cpp server (llama-cpp-python) serving the
embedded SmolLM2 GGUF: `hrlaif sample` through the server gives the samples file a transformers
run gives, seeds make a re-run identical, and the next stage (red teaming) generates with
transformers in the same run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hrlaif.cli import app
from hrlaif.manifest import read_manifest
from hrlaif.records import Sample

from support.run_configs import DROP, write_run_config
from support.servers import llama_server  # noqa: F401  (a fixture)

# llama.cpp samples with top_k 40, min_p 0.05 and a repeat penalty by default; these make it
# sample as the transformers backend does (README, policy.server.extra_body).
LLAMA_CPP_AS_TRANSFORMERS = {"top_k": 0, "min_p": 0, "repeat_penalty": 1.0}


def write_config(tmp_path: Path, run: Path) -> Path:
    return write_run_config(
        tmp_path, "smollm2", file=f"{run.name}.yaml", run_dir=str(run), policy={"max_length": 512}, data={"max_train_prompts": 4},
        sample={"generation": {"max_new_tokens": 24, "temperature": 0.8, "batch_size": DROP}},
        redteam={"num_generated": 0, "max_attacks": 2, "num_samples": 1, "generation": {"max_new_tokens": 8}, "rewrite_max_tokens": 16},
    )


def served(base_url: str) -> list[str]:
    return ["--set", "policy.backend=openai", "--set", f"policy.server.base_urls=[{base_url}]", "--set", "policy.server.concurrency=2",
            "--set", f"policy.server.extra_body={json.dumps(LLAMA_CPP_AS_TRANSFORMERS)}", "--set", "policy.server.timeout_s=120"]


@pytest.mark.slow
@pytest.mark.server
def test_sample_through_llama_cpp_then_red_team_with_transformers(llama_server: str, tmp_path: Path) -> None:  # noqa: F811
    runner = CliRunner()
    texts = []
    for name in ("first", "again"):
        run = tmp_path / name
        result = runner.invoke(app, ["sample", "-c", str(write_config(tmp_path, run)), *served(llama_server)])
        assert result.exit_code == 0, result.output
        samples = [Sample.model_validate_json(line) for line in (run / "sample" / "samples.jsonl").read_text().splitlines()]
        assert len(samples) == 8 and sorted({s.sample_index for s in samples}) == [0, 1]
        assert all(s.policy == "start" for s in samples)
        assert sum(bool(s.response.strip()) for s in samples) >= 6, [s.response for s in samples]
        assert read_manifest(run / "sample")["compute"]["generation_backend"] == "openai"
        texts.append([(s.prompt_id, s.sample_index, s.response, s.truncated) for s in samples])
    assert texts[0] == texts[1], "every request carries its seed: a re-run is the same"
    first = [t[2] for t in texts[0]]
    assert len(set(first)) > 4, "two samples of a prompt differ (seeds differ per pass and prompt)"

    # the same run goes on with transformers for red teaming (same config file, backend not set)
    run = tmp_path / "first"
    result = runner.invoke(app, ["redteam", "-c", str(tmp_path / "first.yaml")])
    assert result.exit_code == 0, result.output
    assert read_manifest(run / "redteam")["compute"]["generation_backend"] == "transformers"
    # and labeling reads the served samples
    result = runner.invoke(app, ["label", "--mode", "rlaif", "-c", str(tmp_path / "first.yaml")])
    assert result.exit_code == 0, result.output
    assert (run / "label-rlaif" / "pairs.jsonl").is_file()
