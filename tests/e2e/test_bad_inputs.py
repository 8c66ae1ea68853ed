"""A corpus of bad inputs, each through the real CLI: exit 2, one line on stderr that names the
file and line, the config key or the path, no traceback, and no output left behind.

Each case is a function that builds its files under `tmp_path` and returns the command line and
the text the error must contain. Cases that need a model use the tiny random one.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hrlaif.cli import app

from support.run_configs import DROP, write_run_config
from support.tiny_models import build_tiny_model

runner = CliRunner()

Case = Callable[[Path, Path], tuple[list[str], list[str]]]
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        assert name not in CASES
        CASES[name] = fn
        return fn

    return register


GOOD_MATH = {"category": "math", "reference": "19", "response": "The answer is 19."}
GOOD_PROMPT = {"id": "p1", "prompt": "What is 2+2?", "category": "math", "reference": "4"}


def lines(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def unwritable(tmp: Path) -> Path:
    """A folder this process may not write: a read-only one, or (root ignores permissions) sysfs."""
    if os.geteuid() == 0:
        return Path("/sys")
    ro = tmp / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    return ro


def verify_case(tmp: Path, rows: list | None = None, raw: bytes | None = None) -> list[str]:
    src = tmp / "in.jsonl"
    if raw is not None:
        src.write_bytes(raw)
    else:
        lines(src, rows or [])
    return ["verify", str(src), "-o", str(tmp / "out" / "verified.jsonl")]


# ---------------------------------------------------------------- verify: the input file
@case("verify-missing-file")
def _(tmp, model):
    return ["verify", str(tmp / "nope.jsonl"), "-o", str(tmp / "out.jsonl")], ["nope.jsonl", "not found"]


@case("verify-input-is-directory")
def _(tmp, model):
    (tmp / "dir.jsonl").mkdir()
    return ["verify", str(tmp / "dir.jsonl"), "-o", str(tmp / "out.jsonl")], ["dir.jsonl"]


@case("verify-empty-file")
def _(tmp, model):
    return verify_case(tmp, []), ["in.jsonl", "no records"]


@case("verify-blank-lines-only")
def _(tmp, model):
    return verify_case(tmp, raw=b"\n  \n\n"), ["in.jsonl", "no records"]


@case("verify-invalid-json")
def _(tmp, model):
    return verify_case(tmp, [GOOD_MATH, GOOD_MATH, '{"category": "math",']), ["in.jsonl:3", "invalid JSON"]


@case("verify-json-array-file")
def _(tmp, model):
    return verify_case(tmp, raw=json.dumps([GOOD_MATH, GOOD_MATH], indent=1).encode()), ["in.jsonl:1", "one JSON object per line"]


@case("verify-json-array-one-line")
def _(tmp, model):
    return verify_case(tmp, [json.dumps([GOOD_MATH])]), ["in.jsonl:1", "one JSON object per line"]


@case("verify-number-line")
def _(tmp, model):
    return verify_case(tmp, [GOOD_MATH, "42"]), ["in.jsonl:2", "JSON object"]


@case("verify-string-line")
def _(tmp, model):
    return verify_case(tmp, ['"hello"']), ["in.jsonl:1", "JSON object"]


@case("verify-not-utf8")
def _(tmp, model):
    return verify_case(tmp, raw=json.dumps(GOOD_MATH).encode() + b"\n\xff\xfe{}\n"), ["in.jsonl:2", "UTF-8"]


@case("verify-deep-nesting")
def _(tmp, model):
    return verify_case(tmp, raw=b"[" * 10000 + b"]" * 10000 + b"\n"), ["in.jsonl:1", "nested too deeply"]


@case("verify-deep-nesting-object")
def _(tmp, model):
    return verify_case(tmp, raw=b'{"a":' * 10000 + b"1" + b"}" * 10000 + b"\n"), ["in.jsonl:1", "nested too deeply"]


@case("verify-missing-category")
def _(tmp, model):
    return verify_case(tmp, [{"reference": "1", "response": "1"}]), ["in.jsonl:1", "category"]


@case("verify-unknown-category")
def _(tmp, model):
    return verify_case(tmp, [GOOD_MATH, {"category": "poetry", "reference": "1", "response": "x"}]), ["in.jsonl:2", "category"]


@case("verify-missing-reference")
def _(tmp, model):
    return verify_case(tmp, [{"category": "math", "response": "1"}]), ["in.jsonl:1", "reference"]


@case("verify-missing-response")
def _(tmp, model):
    return verify_case(tmp, [{"category": "math", "reference": "1"}]), ["in.jsonl:1", "response"]


@case("verify-response-not-string")
def _(tmp, model):
    return verify_case(tmp, [{"category": "math", "reference": "1", "response": 1}]), ["in.jsonl:1", "response"]


@case("verify-reference-nan")
def _(tmp, model):
    return verify_case(tmp, raw=b'{"category": "math", "reference": NaN, "response": "1"}\n'), ["in.jsonl:1", "NaN"]


@case("verify-reference-infinity")
def _(tmp, model):
    return verify_case(tmp, raw=b'{"category": "math", "reference": Infinity, "response": "1"}\n'), ["in.jsonl:1", "Infinity"]


@case("verify-reference-huge-integer")
def _(tmp, model):
    return verify_case(tmp, raw=b'{"category": "math", "reference": ' + b"9" * 5000 + b', "response": "1"}\n'), ["in.jsonl:1", "digits"]


@case("verify-reference-null")
def _(tmp, model):
    return verify_case(tmp, [{"category": "math", "reference": None, "response": "1"}]), ["in.jsonl:1", "reference"]


@case("verify-reference-empty")
def _(tmp, model):
    return verify_case(tmp, [{"category": "math", "reference": "  ", "response": "1"}]), ["in.jsonl:1", "reference"]


@case("verify-reference-list")
def _(tmp, model):
    return verify_case(tmp, [{"category": "math", "reference": [1, 2], "response": "1"}]), ["in.jsonl:1", "reference"]


@case("verify-mc-without-choices")
def _(tmp, model):
    return verify_case(tmp, [{"category": "multiple_choice", "reference": "B", "response": "B"}]), ["in.jsonl:1", "choices"]


@case("verify-mc-bad-letter")
def _(tmp, model):
    return verify_case(tmp, [{"category": "multiple_choice", "reference": "Z", "choices": ["a", "b"], "response": "B"}]), ["in.jsonl:1", "reference"]


@case("verify-mc-choices-not-list")
def _(tmp, model):
    return verify_case(tmp, [{"category": "multiple_choice", "reference": "A", "choices": "ab", "response": "A"}]), ["in.jsonl:1", "choices"]


@case("verify-nul-bytes-line")
def _(tmp, model):
    return verify_case(tmp, raw=b"\x00\x00\x00\n"), ["in.jsonl:1"]


@case("verify-truncated-last-line")
def _(tmp, model):
    return verify_case(tmp, raw=(json.dumps(GOOD_MATH) + "\n" + json.dumps(GOOD_MATH)[:20]).encode()), ["in.jsonl:2", "invalid JSON"]


@case("verify-duplicate-json-key")
def _(tmp, model):
    return verify_case(tmp, raw=b'{"category": "math", "reference": "1", "reference": "2", "response": "1"}\n'), ["in.jsonl:1", "reference"]


@case("verify-too-many-choices")
def _(tmp, model):
    return verify_case(tmp, [{"category": "multiple_choice", "reference": "A", "choices": [str(i) for i in range(40)], "response": "A"}]), ["in.jsonl:1", "choices"]


@case("verify-choices-not-strings")
def _(tmp, model):
    return verify_case(tmp, [{"category": "multiple_choice", "reference": "A", "choices": [1, 2], "response": "A"}]), ["in.jsonl:1", "choices"]


# ---------------------------------------------------------------- verify: the output path
@case("verify-output-is-directory")
def _(tmp, model):
    src = lines(tmp / "in.jsonl", [GOOD_MATH])
    (tmp / "outdir").mkdir()
    return ["verify", str(src), "-o", str(tmp / "outdir")], ["outdir", "directory"]


@case("verify-output-under-a-file")
def _(tmp, model):
    src = lines(tmp / "in.jsonl", [GOOD_MATH])
    (tmp / "afile").write_text("x")
    return ["verify", str(src), "-o", str(tmp / "afile" / "out.jsonl")], ["afile"]


@case("verify-output-read-only-dir")
def _(tmp, model):
    src = lines(tmp / "in.jsonl", [GOOD_MATH])
    ro = unwritable(tmp)
    return ["verify", str(src), "-o", str(ro / "hrlaif-out.jsonl")], [str(ro)]


# ---------------------------------------------------------------- config files and --set
def config_case(tmp: Path, text: str | bytes, command: str = "sample") -> list[str]:
    path = tmp / "config.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return [command, "-c", str(path), "--run-dir", str(tmp / "run")]


@case("config-missing")
def _(tmp, model):
    return ["sample", "-c", str(tmp / "none.yaml"), "--run-dir", str(tmp / "run")], ["none.yaml", "not found"]


@case("config-is-directory")
def _(tmp, model):
    (tmp / "cfgdir").mkdir()
    return ["sample", "-c", str(tmp / "cfgdir"), "--run-dir", str(tmp / "run")], ["cfgdir"]


@case("config-invalid-yaml")
def _(tmp, model):
    return config_case(tmp, "ppo:\n  steps: [1, 2\n"), ["config.yaml:3", "not valid YAML"]


@case("config-top-level-list")
def _(tmp, model):
    return config_case(tmp, "- a\n- b\n"), ["config.yaml", "mapping"]


@case("config-top-level-scalar")
def _(tmp, model):
    return config_case(tmp, "hello\n"), ["config.yaml", "mapping"]


@case("config-deep-nesting-flow")
def _(tmp, model):
    return config_case(tmp, "a: " + "[" * 10000 + "]" * 10000 + "\n"), ["config.yaml", "nested too deeply"]


@case("config-deep-nesting-block")
def _(tmp, model):
    return config_case(tmp, "".join("  " * i + f"k{i}:\n" for i in range(3000)) + "  " * 3000 + "v: 1\n"), ["config.yaml", "nested too deeply"]


@case("config-duplicate-key")
def _(tmp, model):
    return config_case(tmp, "ppo:\n  steps: 2\n  steps: 3\n"), ["config.yaml", "steps", "twice"]


@case("config-duplicate-section")
def _(tmp, model):
    return config_case(tmp, "ppo:\n  steps: 2\nsample:\n  num_samples: 2\nppo:\n  steps: 3\n"), ["config.yaml", "ppo", "twice"]


@case("config-alias-bomb")
def _(tmp, model):  # a billion laughs under a free-form mapping: 9**9 strings once expanded
    levels = ["    a: &a [" + ", ".join(["lol"] * 9) + "]"]
    levels += [f"    {name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]" for prev, name in zip("abcdefgh", "bcdefghi")]
    return config_case(tmp, "judge:\n  extra_body:\n" + "\n".join(levels) + "\n"), ["config.yaml:1", "alias bomb"]


@case("config-self-referencing-anchor")
def _(tmp, model):
    return config_case(tmp, "judge:\n  extra_body: &body\n    again: *body\n"), ["config.yaml:2", "alias refers to the anchored node"]


@case("config-unknown-section")
def _(tmp, model):
    return config_case(tmp, "ppoo:\n  steps: 2\n"), ["ppoo"]


@case("config-unknown-key")
def _(tmp, model):
    return config_case(tmp, "ppo:\n  stepz: 2\n"), ["ppo.stepz"]


@case("config-wrong-type")
def _(tmp, model):
    return config_case(tmp, "ppo:\n  steps: many\n"), ["ppo.steps"]


@case("config-negative")
def _(tmp, model):
    return config_case(tmp, "ppo:\n  steps: -1\n"), ["ppo.steps"]


@case("config-section-not-mapping")
def _(tmp, model):
    return config_case(tmp, "ppo: 3\n"), ["ppo"]


@case("config-not-utf8")
def _(tmp, model):
    return config_case(tmp, b"ppo:\n  steps: \xff\xfe\n"), ["config.yaml"]


@case("config-yaml-tag")
def _(tmp, model):
    return config_case(tmp, "ppo: !!python/object/apply:os.system ['true']\n"), ["config.yaml"]


@case("config-nan-float")
def _(tmp, model):
    return config_case(tmp, "ppo:\n  learning_rate: .nan\n"), ["ppo.learning_rate"]


@case("config-seed-huge")
def _(tmp, model):
    return config_case(tmp, "seed: " + "9" * 5000 + "\n"), ["config.yaml", "digits"]


@case("set-without-equals")
def _(tmp, model):
    return ["sample", "--set", "ppo.steps", "--run-dir", str(tmp / "run")], ["ppo.steps", "="]


@case("set-unknown-key")
def _(tmp, model):
    return ["sample", "--set", "ppo.nosuch=1", "--run-dir", str(tmp / "run")], ["ppo.nosuch"]


@case("set-empty-key")
def _(tmp, model):
    return ["sample", "--set", "=1", "--run-dir", str(tmp / "run")], ["'=1'", "empty key"]


@case("set-bad-yaml-value")
def _(tmp, model):
    return ["sample", "--set", "ppo.steps=[1,", "--run-dir", str(tmp / "run")], ["ppo.steps"]


@case("set-wrong-type")
def _(tmp, model):
    return ["sample", "--set", "sample.num_samples=two", "--run-dir", str(tmp / "run")], ["sample.num_samples"]


@case("set-run-dir-empty")
def _(tmp, model):
    return ["sample", "--set", "run_dir="], ["run_dir"]


@case("set-run-dir-blank")
def _(tmp, model):
    return ["sample", "--set", "run_dir=  "], ["run_dir"]


@case("run-dir-option-empty")
def _(tmp, model):
    return ["sample", "--run-dir", ""], ["run_dir", "must not be empty"]


@case("run-dir-option-blank")
def _(tmp, model):
    return ["config", "--run-dir", "  "], ["run_dir", "must not be empty"]


@case("config-mini-batch-larger-than-batch")
def _(tmp, model):
    return config_case(tmp, "ppo:\n  batch_size: 2\n  mini_batch_size: 4\n"), ["ppo.mini_batch_size", "ppo.batch_size"]


@case("config-judge-templates-dir-empty")
def _(tmp, model):
    return config_case(tmp, "judge:\n  templates_dir: ''\n"), ["judge.templates_dir", "must not be empty"]


@case("config-judge-cache-file-empty")
def _(tmp, model):
    return config_case(tmp, 'judge:\n  cache_file: ""\n'), ["judge.cache_file", "must not be empty"]


@case("set-into-scalar")
def _(tmp, model):
    return ["sample", "--set", "seed.x=1", "--run-dir", str(tmp / "run")], ["seed"]


@case("set-deep-nesting-value")
def _(tmp, model):
    return ["sample", "--set", "ppo.steps=" + "[" * 10000 + "]" * 10000, "--run-dir", str(tmp / "run")], ["ppo.steps"]


@case("set-unknown-section")
def _(tmp, model):
    return ["sample", "--set", "nosuch.x=1", "--run-dir", str(tmp / "run")], ["nosuch"]


@case("config-null-section")
def _(tmp, model):
    return config_case(tmp, "ppo:\n  steps: 2\njudge: [1, 2]\n"), ["judge"]


@case("mode-unknown")
def _(tmp, model):
    return ["label", "--mode", "rlhf", "--run-dir", str(tmp / "run")], ["rlhf"]


# ---------------------------------------------------------------- run directory
def model_config(tmp: Path, model: Path, **data) -> Path:
    """No run_dir: each case passes --run-dir."""
    return write_run_config(tmp, model, file="model-config.yaml", run_dir=DROP, judge={"model": DROP},
                            sample={"generation": {"max_new_tokens": 4, "batch_size": 4}},
                            data={"max_train_prompts": 4, "max_eval_prompts": 4, **data})


@case("run-dir-is-a-file")
def _(tmp, model):
    (tmp / "runfile").write_text("x")
    return ["sample", "-c", str(model_config(tmp, model)), "--run-dir", str(tmp / "runfile")], ["runfile"]


@case("run-dir-under-a-file")
def _(tmp, model):
    (tmp / "runfile").write_text("x")
    return ["sample", "-c", str(model_config(tmp, model)), "--run-dir", str(tmp / "runfile" / "run")], ["runfile"]


@case("run-dir-read-only")
def _(tmp, model):
    ro = unwritable(tmp)
    return ["sample", "-c", str(model_config(tmp, model)), "--run-dir", str(ro / "hrlaif-run")], [str(ro)]


@case("report-missing-run-dir")
def _(tmp, model):
    return ["report", str(tmp / "norun")], ["norun", "not found"]


@case("report-run-dir-is-file")
def _(tmp, model):
    (tmp / "runfile").write_text("x")
    return ["report", str(tmp / "runfile")], ["runfile"]


@case("report-empty-run-dir")
def _(tmp, model):
    (tmp / "run").mkdir()
    return ["report", str(tmp / "run")], ["run"]


@case("audit-missing-run-dir")
def _(tmp, model):
    return ["audit", str(tmp / "norun")], ["norun", "not found"]


@case("audit-empty-run-dir")
def _(tmp, model):
    (tmp / "run").mkdir()
    return ["audit", str(tmp / "run")], ["no labels"]


@case("label-before-sample")
def _(tmp, model):
    return ["label", "-c", str(model_config(tmp, model)), "--run-dir", str(tmp / "run"), "--mode", "rlaif"], ["sample", "run it first"]


@case("train-rm-before-label")
def _(tmp, model):
    return ["train-rm", "-c", str(model_config(tmp, model)), "--run-dir", str(tmp / "run"), "--mode", "rlaif"], ["label-rlaif"]


@case("ppo-before-rm")
def _(tmp, model):
    return ["ppo", "-c", str(model_config(tmp, model)), "--run-dir", str(tmp / "run"), "--mode", "hrlaif"], ["rm-hrlaif"]


@case("evaluate-nothing-trained")
def _(tmp, model):
    return ["evaluate", "-c", str(model_config(tmp, model)), "--run-dir", str(tmp / "run")], ["no trained arm"]


# ---------------------------------------------------------------- prompt files (sample / evaluate / ppo)
def prompts_case(tmp: Path, model: Path, rows: list | None = None, raw: bytes | None = None, command: str = "sample", key: str = "train_prompts") -> list[str]:
    path = tmp / "prompts.jsonl"
    if raw is not None:
        path.write_bytes(raw)
    else:
        lines(path, rows or [])
    return [command, "-c", str(model_config(tmp, model, **{key: str(path)})), "--run-dir", str(tmp / "run")]


@case("prompts-missing")
def _(tmp, model):
    return ["sample", "-c", str(model_config(tmp, model, train_prompts=str(tmp / "none.jsonl"))), "--run-dir", str(tmp / "run")], ["none.jsonl", "not found"]


@case("prompts-directory")
def _(tmp, model):
    (tmp / "pdir").mkdir()
    return ["sample", "-c", str(model_config(tmp, model, train_prompts=str(tmp / "pdir"))), "--run-dir", str(tmp / "run")], ["pdir"]


@case("prompts-empty")
def _(tmp, model):
    return prompts_case(tmp, model, []), ["prompts.jsonl", "no prompts"]


@case("prompts-invalid-json")
def _(tmp, model):
    return prompts_case(tmp, model, [GOOD_PROMPT, "{oops"]), ["prompts.jsonl:2", "invalid JSON"]


@case("prompts-json-array")
def _(tmp, model):
    return prompts_case(tmp, model, raw=json.dumps([GOOD_PROMPT]).encode()), ["prompts.jsonl:1", "one JSON object per line"]


@case("prompts-deep-nesting")
def _(tmp, model):
    return prompts_case(tmp, model, raw=b'{"id": ' + b"[" * 10000 + b"]" * 10000 + b"}\n"), ["prompts.jsonl:1", "nested too deeply"]


@case("prompts-lone-surrogate")
def _(tmp, model):
    return prompts_case(tmp, model, raw=b'{"id": "p1", "prompt": "hi \\ud800 there", "category": "open_ended"}\n'), ["prompts.jsonl:1", "surrogate"]


@case("prompts-lone-surrogate-messages")
def _(tmp, model):
    row = b'{"id": "p1", "messages": [{"role": "user", "content": "\\udc00"}], "category": "open_ended"}\n'
    return prompts_case(tmp, model, raw=row), ["prompts.jsonl:1", "surrogate"]


@case("prompts-missing-id")
def _(tmp, model):
    return prompts_case(tmp, model, [{"prompt": "hi", "category": "open_ended"}]), ["prompts.jsonl:1", "id"]


@case("prompts-empty-id")
def _(tmp, model):
    return prompts_case(tmp, model, [{"id": "", "prompt": "hi", "category": "open_ended"}]), ["prompts.jsonl:1", "id"]


@case("prompts-unknown-category")
def _(tmp, model):
    return prompts_case(tmp, model, [{"id": "p", "prompt": "hi", "category": "poetry"}]), ["prompts.jsonl:1", "category"]


@case("prompts-both-prompt-and-messages")
def _(tmp, model):
    return prompts_case(tmp, model, [{"id": "p", "prompt": "hi", "messages": [{"role": "user", "content": "x"}], "category": "open_ended"}]), ["prompts.jsonl:1", "either"]


@case("prompts-empty-text")
def _(tmp, model):
    return prompts_case(tmp, model, [{"id": "p", "prompt": "   ", "category": "open_ended"}]), ["prompts.jsonl:1", "empty"]


@case("prompts-prompt-not-string")
def _(tmp, model):
    return prompts_case(tmp, model, [{"id": "p", "prompt": ["hi"], "category": "open_ended"}]), ["prompts.jsonl:1", "prompt"]


@case("prompts-messages-end-with-assistant")
def _(tmp, model):
    return prompts_case(tmp, model, [{"id": "p", "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "category": "open_ended"}]), ["prompts.jsonl:1", "user"]


@case("prompts-bad-role")
def _(tmp, model):
    return prompts_case(tmp, model, [{"id": "p", "messages": [{"role": "wizard", "content": "a"}], "category": "open_ended"}]), ["prompts.jsonl:1", "role"]


@case("prompts-math-without-reference")
def _(tmp, model):
    return prompts_case(tmp, model, [{"id": "p", "prompt": "1+1?", "category": "math"}]), ["prompts.jsonl:1", "reference"]


@case("prompts-mc-without-choices")
def _(tmp, model):
    return prompts_case(tmp, model, [{"id": "p", "prompt": "pick", "category": "multiple_choice", "reference": "A"}]), ["prompts.jsonl:1", "choices"]


@case("prompts-duplicate-id")
def _(tmp, model):
    return prompts_case(tmp, model, [GOOD_PROMPT, GOOD_PROMPT]), ["prompts.jsonl", "twice"]


@case("prompts-not-utf8")
def _(tmp, model):
    return prompts_case(tmp, model, raw=b'{"id": "p", "prompt": "\xff", "category": "open_ended"}\n'), ["prompts.jsonl:1", "UTF-8"]


@case("prompts-longer-than-model-context")
def _(tmp, model):
    # A model with 64 positions: policy.max_length (256) is not the limit that matters;
    # 64 minus the 2 new tokens the run asks for leaves 62 for the prompt.
    short = build_tiny_model(tmp / "short-model", max_positions=64)
    text = "word " * 190
    args = prompts_case(tmp, model, [{"id": "long", "prompt": text, "category": "open_ended"}])
    return [*args, "--set", f"policy.path={short}"], ["prompts.jsonl:1", "the 62 that fit"]


@case("eval-prompts-missing")
def _(tmp, model):
    return ["evaluate", "-c", str(model_config(tmp, model, eval_prompts=str(tmp / "none.jsonl"))), "--run-dir", str(tmp / "run"), "--mode", "rlaif"], ["none.jsonl"]


@case("eval-prompts-directory")
def _(tmp, model):
    (tmp / "edir").mkdir()
    return ["evaluate", "-c", str(model_config(tmp, model, eval_prompts=str(tmp / "edir"))), "--run-dir", str(tmp / "run"), "--mode", "rlaif"], ["edir"]


@case("ppo-train-prompts-missing")
def _(tmp, model):
    return ["ppo", "-c", str(model_config(tmp, model, train_prompts=str(tmp / "none.jsonl"))), "--run-dir", str(tmp / "run"), "--mode", "rlaif"], ["rm-rlaif", "run it first"]


@case("ppo-train-prompts-directory")
def _(tmp, model):
    (tmp / "pdir").mkdir()
    return ["ppo", "-c", str(model_config(tmp, model, train_prompts=str(tmp / "pdir"))), "--run-dir", str(tmp / "run"), "--mode", "rlaif"], ["rm-rlaif", "run it first"]


def parquet_case(tmp: Path, model: Path, table: dict, **data) -> list[str]:
    """A parquet prompt file written by pyarrow itself, so a float NaN stays a NaN."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp / "prompts.parquet"
    pq.write_table(pa.table(table), path)
    return ["sample", "-c", str(model_config(tmp, model, train_prompts=str(path), **data)), "--run-dir", str(tmp / "run")]


@case("run-eval-prompts-wrong-columns")
def _(tmp, model):
    """data.columns applies to the eval set too: its file lacks the column, and `run` says so before any stage."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"q": ["1+1?", "2+2?"], "answer": ["#### 2", "#### 4"]}), tmp / "train.parquet")
    pq.write_table(pa.table({"question": ["3+3?"], "answer": ["#### 6"]}), tmp / "eval.parquet")
    config = model_config(tmp, model, train_prompts=str(tmp / "train.parquet"), eval_prompts=str(tmp / "eval.parquet"),
                          format="gsm8k", columns={"prompt": "q"})
    return ["run", "-c", str(config), "--run-dir", str(tmp / "run")], \
        ["eval.parquet row 1", "no column 'q'", "data.columns.prompt", "data.eval_columns", "data.eval_prompts"]


@case("study-eval-prompts-wrong-columns")
def _(tmp, model):
    """A study (labelers sharing one sampling stage) reads every source before that stage too."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"question": ["3+3?"], "answer": ["#### 6"]}), tmp / "eval.parquet")
    config = model_config(tmp, model, eval_prompts=str(tmp / "eval.parquet"), eval_format="columns", columns={"prompt": "text"})
    return ["study", "-c", str(config), "--run-dir", str(tmp / "run"), "--set", "study.jobs=2",
            "--set", "study.labelers={a: {backend: simulated}, b: {backend: simulated}}"], \
        ["eval.parquet row 1", "no column 'text'", "data.columns.prompt", "data.eval_columns"]


@case("run-monitor-source-missing")
def _(tmp, model):
    config = model_config(tmp, model)
    return ["run", "-c", str(config), "--run-dir", str(tmp / "run"), "--set", "ppo.monitor_every=1",
            "--set", f"ppo.monitor_source={tmp / 'none.jsonl'}"], ["none.jsonl", "not found", "ppo.monitor_source"]


@case("prompts-csv-wrong-columns")
def _(tmp, model):
    (tmp / "prompts.csv").write_text("text,label\nhello,1\n", encoding="utf-8")
    return ["sample", "-c", str(model_config(tmp, model, train_prompts=str(tmp / "prompts.csv"))), "--run-dir", str(tmp / "run")], \
        ["prompts.csv row 1", "data.format: columns", "data.columns.prompt"]


@case("prompts-mmlu-file-as-gsm8k")
def _(tmp, model):
    return parquet_case(tmp, model, {"question": ["pick"], "choices": [["a", "b"]], "answer": [1]}, format="gsm8k"), \
        ["prompts.parquet row 1", "'####", "look like data.format: mmlu"]


@case("prompts-gsm8k-file-as-mmlu")
def _(tmp, model):
    return parquet_case(tmp, model, {"question": ["1+1?"], "answer": ["#### 2"]}, format="mmlu"), \
        ["prompts.parquet row 1", "no column 'choices'", "look like data.format: gsm8k"]


@case("config-reward-trainer-args-unknown")
def _(tmp, model):
    return ["sample", "-c", str(model_config(tmp, model)), "--run-dir", str(tmp / "run"), "--set", "reward.trainer_args.warmup_ratio=0.1"], \
        ["reward.trainer_args", "'warmup_ratio' is not a field of TRL's RewardConfig", "did you mean 'warmup_steps'"]


@case("config-dpo-trainer-args-set-by-hrlaif")
def _(tmp, model):
    return ["sample", "-c", str(model_config(tmp, model)), "--run-dir", str(tmp / "run"), "--set", "dpo.trainer_args.learning_rate=0.1"], \
        ["dpo.trainer_args", "'learning_rate' is set by hrlaif", "dpo.learning_rate"]


@case("config-dpo-lora-critic")
def _(tmp, model):
    return ["sample", "-c", str(model_config(tmp, model)), "--run-dir", str(tmp / "run"), "--set", "dpo.lora.critic=true"], \
        ["dpo.lora", "DPO has no critic"]


@case("prompts-parquet-nan-reference")
def _(tmp, model):
    return parquet_case(tmp, model, {"question": ["1+1?", "2+2?"], "answer": [2.0, float("nan")]},
                        format="columns", columns={"prompt": "question", "reference": "answer"}, category="math"), \
        ["prompts.parquet row 2", "column 'answer'", "missing"]


@case("prompts-parquet-null-id")
def _(tmp, model):
    return parquet_case(tmp, model, {"key": ["a", None], "text": ["hi", "bye"]}, format="columns", columns={"id": "key", "prompt": "text"}), \
        ["prompts.parquet row 2", "column 'key'", "missing"]


@case("prompts-parquet-null-mmlu-option")
def _(tmp, model):
    return parquet_case(tmp, model, {"question": ["pick"], "choices": [["a", None]], "answer": [0]}, format="mmlu"), \
        ["prompts.parquet row 1", "option B is missing"]


@case("prompts-parquet-27-options")
def _(tmp, model):
    return parquet_case(tmp, model, {"question": ["pick"], "choices": [[str(n) for n in range(27)]], "answer": [0]}, format="mmlu"), \
        ["prompts.parquet row 1", "27 options"]


@case("prompts-folder-mixed-kinds")
def _(tmp, model):
    folder = tmp / "pfolder"
    folder.mkdir()
    lines(folder / "a.jsonl", [{"prompt": "hi"}])
    (folder / "b.csv").write_text("prompt\nbye\n")
    return ["sample", "-c", str(model_config(tmp, model, train_prompts=str(folder), format="trl")), "--run-dir", str(tmp / "run")], \
        ["pfolder", ".csv, .jsonl"]


@case("bundled-unknown")
def _(tmp, model):
    return ["sample", "-c", str(model_config(tmp, model, train_prompts="bundled:nosuch")), "--run-dir", str(tmp / "run")], ["nosuch"]


# ---------------------------------------------------------------- models and judge settings
@case("policy-path-missing")
def _(tmp, model):
    return ["sample", "-c", str(model_config(tmp, model)), "--run-dir", str(tmp / "run"), "--set", f"policy.path={tmp / 'no-model'}"], ["no-model"]


@case("policy-path-empty-dir")
def _(tmp, model):
    (tmp / "empty-model").mkdir()
    return ["sample", "-c", str(model_config(tmp, model)), "--run-dir", str(tmp / "run"), "--set", f"policy.path={tmp / 'empty-model'}"], ["empty-model"]


@case("policy-path-is-file")
def _(tmp, model):
    (tmp / "model.bin").write_bytes(b"\x00" * 64)
    return ["sample", "-c", str(model_config(tmp, model)), "--run-dir", str(tmp / "run"), "--set", f"policy.path={tmp / 'model.bin'}"], ["model.bin"]


@case("judge-backend-unknown")
def _(tmp, model):
    return ["sample", "--set", "judge.backend=oracle", "--run-dir", str(tmp / "run")], ["judge.backend"]


@case("judge-api-key-file-missing")
def _(tmp, model):
    config = one_sample_run(tmp, model)
    return ["label", "-c", str(config), "--run-dir", str(tmp / "run"), "--mode", "rlaif", "--set", f"judge.api_key_file={tmp / 'nokey'}",
            "--set", "judge.backend=openai", "--set", "judge.base_urls=[http://127.0.0.1:9]"], ["nokey"]


def one_sample_run(tmp: Path, model: Path) -> Path:
    """A finished sample stage, so `label` reaches the judge."""
    config = model_config(tmp, model)
    result = runner.invoke(app, ["sample", "-c", str(config), "--run-dir", str(tmp / "run")])
    assert result.exit_code == 0, result.output
    return config


@case("judge-cache-corrupt")
def _(tmp, model):
    config = one_sample_run(tmp, model)
    (tmp / "cache.sqlite").write_bytes(b"this is not a database" * 100)
    return ["label", "-c", str(config), "--run-dir", str(tmp / "run"), "--mode", "rlaif", "--set", f"judge.cache_file={tmp / 'cache.sqlite'}"], ["cache.sqlite"]


@case("judge-cache-directory")
def _(tmp, model):
    config = one_sample_run(tmp, model)
    (tmp / "cache.sqlite").mkdir()
    return ["label", "-c", str(config), "--run-dir", str(tmp / "run"), "--mode", "rlaif", "--set", f"judge.cache_file={tmp / 'cache.sqlite'}"], ["cache.sqlite"]


@case("judge-cache-read-only-dir")
def _(tmp, model):
    config = one_sample_run(tmp, model)
    ro = unwritable(tmp)
    return ["label", "-c", str(config), "--run-dir", str(tmp / "run"), "--mode", "rlaif", "--set", f"judge.cache_file={ro / 'hrlaif-cache.sqlite'}"], ["hrlaif-cache.sqlite"]


@case("samples-file-corrupted")
def _(tmp, model):
    config = one_sample_run(tmp, model)
    samples = tmp / "run" / "sample" / "samples.jsonl"
    samples.write_text(samples.read_text() + "{torn")
    return ["label", "-c", str(config), "--run-dir", str(tmp / "run"), "--mode", "rlaif"], ["samples.jsonl"]


# ---------------------------------------------------------------- human evaluation: import, store, serve (issue 27)
HELD_SOCKETS: list = []  # ports the busy-port cases hold while the command runs


def human_run(tmp: Path) -> Path:
    """A finished run's eval/ (as the evaluation stage writes it) and its ratings store."""
    from support.human_run import plain_responses, write_eval

    return write_eval(tmp / "run", plain_responses(("start", "rlaif")))


def import_case(tmp: Path, **change) -> list[str]:
    """`human-eval import` of one rating exported from this run, with `change` applied to it."""
    from hrlaif.human.store import RatingStore

    run = human_run(tmp)
    items = RatingStore.open(run).items()
    item = next(i for i in items.values() if i.kind == "satisfaction")
    rating = {"rater": "ann", "item": item.key, "kind": item.kind, "prompt_id": item.prompt_id, "category": item.category,
              "policy": item.policy, "answer": "yes", "choice": "yes", "first": None, "seconds": 4.5,
              "created_at": "2026-01-01T00:00:00+00:00", "digest": item.payload["digest"]} | change
    lines(tmp / "ratings.jsonl", [rating])
    return ["human-eval", "import", str(run), str(tmp / "ratings.jsonl")]


@case("human-import-seconds-list")
def _(tmp, model):
    return import_case(tmp, seconds=[1, 2]), ["ratings.jsonl:1", "seconds"]


@case("human-import-seconds-object")
def _(tmp, model):
    return import_case(tmp, seconds={"s": 1}), ["ratings.jsonl:1", "seconds"]


@case("human-import-seconds-negative")
def _(tmp, model):
    return import_case(tmp, seconds=-3), ["ratings.jsonl:1", "seconds"]


@case("human-import-seconds-string")
def _(tmp, model):
    return import_case(tmp, seconds="4"), ["ratings.jsonl:1", "seconds"]


@case("human-import-seconds-boolean")
def _(tmp, model):
    return import_case(tmp, seconds=True), ["ratings.jsonl:1", "seconds"]


@case("human-import-seconds-huge")
def _(tmp, model):
    return import_case(tmp, seconds=1e300), ["ratings.jsonl:1", "seconds"]


@case("human-import-rater-empty")
def _(tmp, model):
    return import_case(tmp, rater=""), ["ratings.jsonl:1", "rater", "1 to 80"]


@case("human-import-rater-blank")
def _(tmp, model):
    return import_case(tmp, rater="   "), ["ratings.jsonl:1", "rater", "1 to 80"]


@case("human-import-rater-10000-chars")
def _(tmp, model):
    return import_case(tmp, rater="r" * 10_000), ["ratings.jsonl:1", "rater", "1 to 80"]


@case("human-import-rater-object")
def _(tmp, model):
    return import_case(tmp, rater={"name": "ann"}), ["ratings.jsonl:1", "rater"]


@case("human-import-rater-list")
def _(tmp, model):
    return import_case(tmp, rater=["ann"]), ["ratings.jsonl:1", "rater"]


@case("human-import-item-number")
def _(tmp, model):
    return import_case(tmp, item=7), ["ratings.jsonl:1", "item"]


@case("human-import-choice-list")
def _(tmp, model):
    return import_case(tmp, choice=["yes"]), ["ratings.jsonl:1", "choice"]


@case("human-import-first-list")
def _(tmp, model):
    return import_case(tmp, first=["start"]), ["ratings.jsonl:1", "first"]


@case("human-import-first-object")
def _(tmp, model):
    return import_case(tmp, first={"policy": "start"}), ["ratings.jsonl:1", "first"]


@case("human-import-created-at-number")
def _(tmp, model):
    return import_case(tmp, created_at=1700000000), ["ratings.jsonl:1", "created_at"]


@case("human-import-created-at-object")
def _(tmp, model):
    return import_case(tmp, created_at={"t": 1}), ["ratings.jsonl:1", "created_at"]


@case("human-import-digest-number")
def _(tmp, model):
    return import_case(tmp, digest=12), ["ratings.jsonl:1", "digest"]


def human_store_case(tmp: Path, damage: str) -> Path:
    """A run whose RUN/human/ratings.sqlite is garbage, a folder, or whose RUN/human is a file."""
    run = human_run(tmp)
    store = run / "human" / "ratings.sqlite"
    if damage == "human-is-file":
        (run / "human").write_text("x")
        return run
    store.parent.mkdir(parents=True)
    if damage == "garbage":
        store.write_bytes(b"this is not a database" * 200)
    elif damage == "folder":
        store.mkdir()
    elif damage == "truncated":
        from hrlaif.human.store import RatingStore

        RatingStore.open(run).add_rater("ann")
        store.write_bytes(store.read_bytes()[:700])
    return run


@case("human-add-rater-store-garbage")
def _(tmp, model):
    return ["human-eval", "add-rater", str(human_store_case(tmp, "garbage")), "ann"], ["ratings.sqlite", "not a ratings database"]


@case("human-import-store-garbage")
def _(tmp, model):
    run = human_store_case(tmp, "garbage")
    lines(tmp / "ratings.jsonl", [{"rater": "ann"}])
    return ["human-eval", "import", str(run), str(tmp / "ratings.jsonl")], ["ratings.sqlite", "not a ratings database"]


@case("human-export-store-garbage")
def _(tmp, model):
    return ["human-eval", "export", str(human_store_case(tmp, "garbage")), "-o", str(tmp / "out.jsonl")], ["ratings.sqlite", "not a ratings database"]


@case("human-results-store-garbage")
def _(tmp, model):
    return ["human-eval", "results", str(human_store_case(tmp, "garbage"))], ["ratings.sqlite"]


@case("human-serve-store-garbage")
def _(tmp, model):
    from support.human_run import free_port

    return ["human-eval", "serve", str(human_store_case(tmp, "garbage")), "--port", str(free_port())], ["ratings.sqlite", "not a ratings database"]


@case("human-add-rater-store-truncated")
def _(tmp, model):
    return ["human-eval", "add-rater", str(human_store_case(tmp, "truncated")), "bob"], ["ratings.sqlite"]


@case("human-add-rater-store-is-folder")
def _(tmp, model):
    return ["human-eval", "add-rater", str(human_store_case(tmp, "folder")), "ann"], ["ratings.sqlite", "a folder"]


@case("human-export-store-is-folder")
def _(tmp, model):
    return ["human-eval", "export", str(human_store_case(tmp, "folder")), "-o", str(tmp / "out.jsonl")], ["ratings.sqlite", "a folder"]


@case("human-results-store-is-folder")
def _(tmp, model):
    return ["human-eval", "results", str(human_store_case(tmp, "folder"))], ["ratings.sqlite", "a folder"]


@case("human-add-rater-human-is-file")
def _(tmp, model):
    return ["human-eval", "add-rater", str(human_store_case(tmp, "human-is-file")), "ann"], ["human"]


@case("human-add-rater-name-empty")
def _(tmp, model):
    return ["human-eval", "add-rater", str(human_run(tmp)), ""], ["rater name", "1 to 80"]


@case("human-add-rater-name-10000-chars")
def _(tmp, model):
    return ["human-eval", "add-rater", str(human_run(tmp)), "n" * 10_000], ["rater name", "1 to 80"]


@case("human-import-rater-81-chars")
def _(tmp, model):
    return import_case(tmp, rater="r" * 81), ["ratings.jsonl:1", "rater", "1 to 80"]


@case("human-import-first-number")
def _(tmp, model):
    return import_case(tmp, first=1), ["ratings.jsonl:1", "first"]


@case("human-import-created-at-list")
def _(tmp, model):
    return import_case(tmp, created_at=["2026"]), ["ratings.jsonl:1", "created_at"]


@case("human-import-store-is-folder")
def _(tmp, model):
    run = human_store_case(tmp, "folder")
    lines(tmp / "ratings.jsonl", [{"rater": "ann"}])
    return ["human-eval", "import", str(run), str(tmp / "ratings.jsonl")], ["ratings.sqlite", "a folder"]


@case("human-export-store-truncated")
def _(tmp, model):
    return ["human-eval", "export", str(human_store_case(tmp, "truncated")), "-o", str(tmp / "out.jsonl")], ["ratings.sqlite"]


def serve_case(tmp: Path, *options: str) -> list[str]:
    return ["human-eval", "serve", str(human_run(tmp)), *options]


@case("human-serve-port-70000")
def _(tmp, model):
    return serve_case(tmp, "--port", "70000"), ["--port 70000", "1 to 65535"]


@case("human-serve-port-negative")
def _(tmp, model):
    return serve_case(tmp, "--port", "-1"), ["--port -1", "1 to 65535"]


@case("human-serve-port-zero")
def _(tmp, model):
    return serve_case(tmp, "--port", "0"), ["--port 0", "1 to 65535"]


@case("human-serve-port-busy")
def _(tmp, model):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    HELD_SOCKETS.append(sock)
    port = sock.getsockname()[1]
    return serve_case(tmp, "--port", str(port)), [f"127.0.0.1:{port}", "choose another --port"]


@case("human-serve-host-not-here")
def _(tmp, model):  # TEST-NET-1: an address no interface of this machine has
    return serve_case(tmp, "--host", "192.0.2.1", "--port", "8765"), ["192.0.2.1:8765", "cannot listen"]


@case("human-serve-host-bad-name")
def _(tmp, model):
    return serve_case(tmp, "--host", "no host here", "--port", "8765"), ["no host here", "--host"]


# ---------------------------------------------------------------- reward-server options (issue 27)
@case("reward-server-port-70000")
def _(tmp, model):
    return ["reward-server", "--port", "70000"], ["--port 70000", "1 to 65535"]


@case("reward-server-port-negative")
def _(tmp, model):
    return ["reward-server", "--port", "-1"], ["--port -1", "1 to 65535"]


@case("reward-server-port-65536")
def _(tmp, model):
    return ["reward-server", "--port", "65536"], ["--port 65536", "1 to 65535"]


@case("reward-server-host-not-here")
def _(tmp, model):
    return ["reward-server", "--host", "192.0.2.1", "--port", "5000"], ["192.0.2.1:5000", "cannot listen"]


@case("reward-server-extra-body-date")
def _(tmp, model):
    (tmp / "config.yaml").write_text("judge:\n  extra_body:\n    since: 2024-01-01\n")
    return ["reward-server", "-c", str(tmp / "config.yaml")], ["judge.extra_body", "quote dates"]


# ---------------------------------------------------------------- study labeler names (issue 27)
@case("study-labeler-named-report")
def _(tmp, model):
    return config_case(tmp, "study:\n  labelers:\n    report: {}\n"), ["study.labelers", "'report'"]


@case("study-labeler-named-sample")
def _(tmp, model):
    return config_case(tmp, "study:\n  labelers:\n    sample: {}\n"), ["study.labelers", "'sample'"]


@case("study-labeler-named-like-a-stage")
def _(tmp, model):
    return config_case(tmp, "study:\n  labelers:\n    label-rlaif: {}\n"), ["study.labelers", "'label-rlaif'"]


@case("study-labeler-named-study-json")
def _(tmp, model):
    return config_case(tmp, "study:\n  labelers:\n    study.json: {}\n"), ["study.labelers", "'study.json'"]


@case("study-labeler-named-judge-cache")
def _(tmp, model):
    return config_case(tmp, "study:\n  labelers:\n    judge_cache.sqlite: {}\n"), ["study.labelers", "'judge_cache.sqlite'"]


@case("study-labeler-named-report-upper-case")
def _(tmp, model):
    return config_case(tmp, "study:\n  labelers:\n    Report: {}\n"), ["study.labelers", "'Report'"]


@case("study-labeler-named-eval")
def _(tmp, model):
    return config_case(tmp, "study:\n  labelers:\n    eval: {}\n"), ["study.labelers", "'eval'"]


@case("study-labeler-named-like-a-seed")
def _(tmp, model):
    return config_case(tmp, "study:\n  labelers:\n    seed-0: {}\n"), ["study.labelers", "'seed-0'"]


@case("study-labeler-named-power-json")
def _(tmp, model):
    return config_case(tmp, "study:\n  labelers:\n    power.json: {}\n"), ["study.labelers", "'power.json'"]


# ---------------------------------------------------------------- judge-check inputs (issue 27)
def judge_check_case(tmp: Path, *sets: str) -> list[str]:
    out = tmp / "out" / "judge_check.json"
    return ["judge-check", "--set", "judge.backend=simulated", "--set", f"run_dir={tmp / 'run'}", *[a for s in sets for a in ("--set", s)], "-o", str(out)]


def template_dir(tmp: Path, text: str) -> Path:
    folder = tmp / "templates"
    folder.mkdir(exist_ok=True)
    (folder / "refusal.yaml").write_text(text, encoding="utf-8")
    return folder


REFUSAL_TEMPLATE = ("version: t1\ninstructions: Decide.\nfields: [prompt, response]\noptions: ['YES', 'NO']\n"
                    "question: Is it a refusal? Answer YES or NO.\n")


@case("judge-check-template-nested-20000")
def _(tmp, model):
    folder = template_dir(tmp, "instructions: " + "[" * 20_000 + "]" * 20_000 + "\n")
    return judge_check_case(tmp, f"judge.templates_dir={folder}"), ["refusal.yaml", "nested too deeply"]


@case("judge-check-template-nested-mappings")
def _(tmp, model):
    folder = template_dir(tmp, "instructions: " + "{a: " * 20_000 + "1" + "}" * 20_000 + "\n")
    return judge_check_case(tmp, f"judge.templates_dir={folder}"), ["refusal.yaml", "nested too deeply"]


@case("judge-check-template-fewer-names")
def _(tmp, model):
    folder = template_dir(tmp, REFUSAL_TEMPLATE + "names: [refused]\n")
    return judge_check_case(tmp, f"judge.templates_dir={folder}"), ["refusal.yaml", "'names' has 1 entries for 2 options"]


@case("judge-check-template-more-meanings")
def _(tmp, model):
    folder = template_dir(tmp, REFUSAL_TEMPLATE + "meanings: [a, b, c]\n")
    return judge_check_case(tmp, f"judge.templates_dir={folder}"), ["refusal.yaml", "'meanings' has 3 entries for 2 options"]


@case("judge-check-key-file-not-utf8")
def _(tmp, model):
    (tmp / "key.txt").write_bytes(b"sk-\xff\xfe\x80secret\n")
    return judge_check_case(tmp, "judge.backend=openai", "judge.base_urls=[http://127.0.0.1:9/v1]", f"judge.api_key_file={tmp / 'key.txt'}"), \
        ["judge.api_key_file", "key.txt", "UTF-8"]


@case("judge-check-key-file-two-lines")
def _(tmp, model):
    (tmp / "key.txt").write_text("sk-first\nsk-second\n")
    return judge_check_case(tmp, "judge.backend=openai", "judge.base_urls=[http://127.0.0.1:9/v1]", f"judge.api_key_file={tmp / 'key.txt'}"), \
        ["judge.api_key_file", "key.txt", "one key on one line"]


@case("judge-check-extra-body-date")
def _(tmp, model):
    return judge_check_case(tmp, "judge.extra_body={since: 2024-01-01}"), ["judge.extra_body", "quote dates"]


@case("judge-check-extra-body-timestamp")
def _(tmp, model):
    return judge_check_case(tmp, "judge.extra_body={at: 2024-01-01 10:00:00}"), ["judge.extra_body", "quote dates"]


@case("policy-server-extra-body-date")
def _(tmp, model):
    return config_case(tmp, "policy:\n  server:\n    extra_body:\n      when: 2024-01-01\n"), ["policy.server.extra_body", "quote dates"]


# ---------------------------------------------------------------- damaged policies (issue 27)
def damaged_model(tmp: Path, model: Path, file: str, keep: int | None = None, text: bytes | None = None) -> Path:
    import shutil

    copy = tmp / "damaged-model"
    shutil.copytree(model, copy)
    path = copy / file
    path.write_bytes(text if text is not None else path.read_bytes()[:keep])
    return copy


def policy_case(tmp: Path, model: Path, policy: Path) -> list[str]:
    return ["sample", "-c", str(model_config(tmp, model)), "--run-dir", str(tmp / "run"), "--set", f"policy.path={policy}"]


@case("policy-gguf-garbage")
def _(tmp, model):
    (tmp / "policy.gguf").write_bytes(b"GGUF" + os.urandom(2000))
    return policy_case(tmp, model, tmp / "policy.gguf"), ["policy.gguf"]


@case("policy-gguf-empty")
def _(tmp, model):
    (tmp / "policy.gguf").write_bytes(b"")
    return policy_case(tmp, model, tmp / "policy.gguf"), ["policy.gguf"]


@case("policy-config-json-cut-off")
def _(tmp, model):
    copy = damaged_model(tmp, model, "config.json", keep=40)
    return policy_case(tmp, model, copy), ["damaged-model", "config.json"]


@case("policy-config-json-a-list")
def _(tmp, model):
    copy = damaged_model(tmp, model, "config.json", text=b"[1, 2]")
    return policy_case(tmp, model, copy), ["damaged-model", "config.json"]


@case("policy-safetensors-truncated")
def _(tmp, model):
    copy = damaged_model(tmp, model, "model.safetensors", keep=5000)
    return policy_case(tmp, model, copy), ["damaged-model", "safetensors"]


@case("policy-safetensors-garbage")
def _(tmp, model):
    copy = damaged_model(tmp, model, "model.safetensors", text=os.urandom(4000))
    return policy_case(tmp, model, copy), ["damaged-model", "safetensors"]


@case("judge-check-key-file-utf16")
def _(tmp, model):
    (tmp / "key.txt").write_bytes("sk-secret-key\n".encode("utf-16"))
    return judge_check_case(tmp, "judge.backend=openai", "judge.base_urls=[http://127.0.0.1:9/v1]", f"judge.api_key_file={tmp / 'key.txt'}"), \
        ["judge.api_key_file", "key.txt", "UTF-8"]


@case("label-key-file-not-utf8")
def _(tmp, model):
    config = one_sample_run(tmp, model)
    (tmp / "key.txt").write_bytes(b"\x80\x81secret")
    return ["label", "-c", str(config), "--run-dir", str(tmp / "run"), "--mode", "rlaif", "--set", "judge.backend=openai",
            "--set", "judge.base_urls=[http://127.0.0.1:9/v1]", "--set", f"judge.api_key_file={tmp / 'key.txt'}"], ["judge.api_key_file", "UTF-8"]


@case("policy-server-key-file-not-utf8")
def _(tmp, model):
    (tmp / "key.txt").write_bytes(b"\xc3\x28secret")
    return policy_case(tmp, model, model) + ["--set", "policy.backend=openai", "--set", "policy.server.base_urls=[http://127.0.0.1:9/v1]",
                                             "--set", f"policy.server.api_key_file={tmp / 'key.txt'}"], ["policy.server.api_key_file", "UTF-8"]


@case("judge-check-extra-body-nan")
def _(tmp, model):
    return judge_check_case(tmp, "judge.extra_body={temperature: .nan}"), ["judge.extra_body", "JSON values"]


@case("judge-check-local-model-safetensors-truncated")
def _(tmp, model):
    copy = damaged_model(tmp, model, "model.safetensors", keep=5000)
    return judge_check_case(tmp, "judge.backend=local", f"judge.model={copy}"), ["damaged-model", "safetensors"]


@case("reward-server-rm-safetensors-truncated")
def _(tmp, model):
    from support.human_run import free_port

    copy = damaged_model(tmp, model, "model.safetensors", keep=5000)
    return ["reward-server", "--rm", str(copy), "--port", str(free_port())], ["damaged-model", "safetensors"]


@case("reward-server-rm-config-cut-off")
def _(tmp, model):
    from support.human_run import free_port

    copy = damaged_model(tmp, model, "config.json", keep=40)
    return ["reward-server", "--rm", str(copy), "--port", str(free_port())], ["damaged-model", "config.json"]


# ---------------------------------------------------------------- prompt folders (issue 27)
@case("prompts-folder-mixed-kinds-upper-case")
def _(tmp, model):
    folder = tmp / "pfolder"
    folder.mkdir()
    lines(folder / "a.JSONL", [{"prompt": "hi"}])
    (folder / "b.csv").write_text("prompt\nbye\n")
    return ["sample", "-c", str(model_config(tmp, model, train_prompts=str(folder), format="trl")), "--run-dir", str(tmp / "run")], \
        ["pfolder", ".csv, .jsonl"]


@case("prompts-folder-mixed-kinds-nested")
def _(tmp, model):
    folder = tmp / "pfolder"
    (folder / "more").mkdir(parents=True)
    lines(folder / "a.jsonl", [{"prompt": "hi"}])
    (folder / "more" / "b.parquet").write_bytes(b"PAR1")
    return ["sample", "-c", str(model_config(tmp, model, train_prompts=str(folder), format="trl")), "--run-dir", str(tmp / "run")], \
        ["pfolder", ".jsonl, .parquet"]


@case("prompts-parquet-hrlaif-nan-reference")
def _(tmp, model):
    return parquet_case(tmp, model, {"id": ["a", "b"], "prompt": ["1+1?", "2+2?"], "category": ["math", "math"], "reference": [2.0, float("nan")]},
                        format="hrlaif"), ["prompts.parquet row", "reference"]


@case("prompts-parquet-hrlaif-null-option")
def _(tmp, model):
    return parquet_case(tmp, model, {"id": ["a"], "prompt": ["pick"], "category": ["multiple_choice"], "reference": ["A"], "choices": [["x", None]]},
                        format="hrlaif"), ["prompts.parquet row 1", "choices"]


@case("prompts-parquet-hrlaif-27-options")
def _(tmp, model):
    return parquet_case(tmp, model, {"id": ["a"], "prompt": ["pick"], "category": ["multiple_choice"], "reference": ["A"],
                                     "choices": [[str(n) for n in range(27)]]}, format="hrlaif"), ["prompts.parquet row 1", "choices"]


@case("prompts-jsonl-27-options")
def _(tmp, model):
    return prompts_case(tmp, model, [{"id": "p", "prompt": "pick", "category": "multiple_choice", "reference": "A",
                                      "choices": [str(n) for n in range(27)]}]), ["prompts.jsonl:1", "choices"]


@case("prompts-columns-null-category")
def _(tmp, model):
    return parquet_case(tmp, model, {"q": ["hi", "bye"], "cat": ["open_ended", None]}, format="columns", columns={"prompt": "q", "category": "cat"}), \
        ["prompts.parquet row 2", "cat"]


@case("prompts-columns-nan-prompt")
def _(tmp, model):
    return parquet_case(tmp, model, {"q": [1.5, float("nan")]}, format="columns", columns={"prompt": "q"}), ["prompts.parquet row 1", "q"]


PIPELINE_COMMANDS = {"sample", "label", "redteam", "train-rm", "ppo", "evaluate", "run", "compare"}


def stage_outputs(run_dir: Path) -> list[str]:
    """Files a failed command must not leave: stage outputs, manifests, temporary files."""
    if not run_dir.is_dir():
        return []
    return sorted(
        str(p.relative_to(run_dir)) for p in run_dir.rglob("*")
        if p.is_file() and (p.name.startswith(".") and p.name.endswith(".tmp") or p.parent != run_dir and p.suffix in {".jsonl", ".json"})
    )


@pytest.fixture
def restore_permissions(tmp_path):
    yield
    for path in tmp_path.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_is_one_clear_line(name, tmp_path, tiny_model, monkeypatch, restore_permissions):
    monkeypatch.chdir(tmp_path)  # nothing may land in the current directory either
    run_dir = tmp_path / "run"
    args, expected = CASES[name](tmp_path, tiny_model)
    before = set(stage_outputs(run_dir))
    if args[0] in PIPELINE_COMMANDS:  # should an error go unnoticed, the command runs small, not on SmolLM2
        safe = ["--set", f"policy.path={tiny_model}", "--set", "data.max_train_prompts=2",
                "--set", "sample.generation.max_new_tokens=2", "--set", "judge.backend=simulated"]
        args = [args[0], *safe, *args[1:]]  # the case's own --set come later and win
    result = runner.invoke(app, args)
    stderr = result.stderr.strip()
    assert result.exit_code == 2, f"exit {result.exit_code}: {result.output[-2000:]}"
    # Progress lines (a stage's name) may come first; the error is one line, and the last.
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in result.output and len(errors) == 1 and stderr.splitlines()[-1] == errors[0], stderr[-3000:]
    stderr = errors[0]
    assert expected and all(expected), f"case {name} names no text the error must contain"
    for text in expected:
        assert text in stderr, f"{text!r} not in {stderr!r}"
    assert set(stage_outputs(run_dir)) == before, "a failed command left stage outputs behind"
    assert not (tmp_path / "out" / "verified.jsonl").exists()
    assert not list(tmp_path.glob("config.yaml.*")) and not (tmp_path / "sample").exists()


def test_the_corpus_is_large():
    assert len(CASES) >= 100


def test_a_busy_port_leaves_no_ratings_store(tmp_path):
    """`human-eval serve` binds its port before it makes RUN/human/ratings.sqlite: a refused
    start leaves the run as it was."""
    import socket

    run = human_run(tmp_path)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        result = runner.invoke(app, ["human-eval", "serve", str(run), "--port", str(sock.getsockname()[1])])
    assert result.exit_code == 2 and "choose another --port" in result.stderr, result.output
    assert not (run / "human").exists()
