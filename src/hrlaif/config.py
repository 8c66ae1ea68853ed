"""Typed configuration: one YAML file plus `section.key=value` overrides from the command line.

Every field has a default that makes the embedded demo work on two CPU cores, and a one-line
description that says why. Unknown or ill-typed keys are errors that name the key, because a
typo in a config silently falling back to a default wastes a whole training run.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from hrlaif.errors import HrlaifError

RESULTS_NEUTRAL = {"results_neutral": True}
"""`Field(..., json_schema_extra=RESULTS_NEUTRAL)` marks a setting that changes how a stage runs
(memory, speed) but not its results: `results_view` leaves it out of the stage's fingerprint, so
changing it never re-runs a stage."""


class Section(BaseModel):
    # NaN or infinity in a config is always a typo or an attack, never a setting.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


def _path_given(cls, value: Any) -> Any:
    """An empty path would become Path("."): the current folder, silently."""
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be empty (it would mean the current folder)")
    return value


# The fields both OpenAI-compatible clients (the judge and the served policy) share, defined once
# as annotated types and declared in each section where it had them, so the YAML keys stay flat
# (`judge.base_urls`, `policy.server.base_urls`), each section keeps its field order in
# `hrlaif config`, RUN/config.yaml and docs/config.md, and fingerprints (model_dump) are unchanged.
# hrlaif.endpoints.EndpointSettings is the shape the endpoint pool reads.
BaseUrls = Annotated[list[str], Field(default_factory=list, description="'openai': OpenAI-compatible endpoints (OpenAI, vLLM, SGLang, llama.cpp, trl vllm-serve, ...); requests go round robin over them, an endpoint failing several times in a row is skipped for a cooldown, one answering 401/403/404 is dropped for the run.")]
ApiKeyFile = Annotated[Path | None, Field(description="'openai': file holding the API key, read at start (it wins over api_key_env); its content is never written anywhere.")]
MaxRetries = Annotated[int, Field(ge=0, description="'openai': retries per request on 429 (after its Retry-After), 5xx, timeouts and broken connections; then a judge item is unscorable, and a policy prompt stops the stage (a samples file never lacks a response).")]
def _json_only(value: dict[str, Any]) -> dict[str, Any]:
    """extra_body is sent as JSON: a YAML date or timestamp would fail only at the first request."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"must hold only JSON values (text, numbers, true/false, null, lists, mappings): {exc}; quote dates") from None
    return value


ExtraBody = Annotated[dict[str, Any], AfterValidator(_json_only), Field(default_factory=dict, description="'openai': extra fields sent in every request's body; part of the judge's cache key and of the policy's fingerprint. A judge: e.g. {guided_choice: [...]} or structured outputs for vLLM. A policy: the server's sampling defaults apply otherwise: llama.cpp samples with top_k 40, min_p 0.05 and a repeat penalty unless given {top_k: 0, min_p: 0, repeat_penalty: 1} (what the transformers backend does); vLLM's defaults already match.")]


class PolicyServerConfig(Section):
    """Where `policy.backend` openai or vllm generates (hrlaif.serving)."""

    model: str | None = Field(None, description="'openai': the policy's name on the server; None: the first model the server lists (a server started on one model).")
    base_urls: BaseUrls
    api_key_env: str = Field("HRLAIF_POLICY_API_KEY", description="'openai': environment variable holding the API key (never written anywhere); unset: 'none', as local servers expect.")
    api_key_file: ApiKeyFile = None
    concurrency: int = Field(16, ge=1, description="'openai': requests in flight; serving engines batch concurrent requests, so more is faster until the server saturates.")
    timeout_s: float = Field(300.0, gt=0, description="'openai': per-request timeout; a long completion on a busy server takes minutes.")
    max_retries: MaxRetries = 4
    extra_body: ExtraBody
    vllm: dict[str, Any] = Field(default_factory=dict, description="'vllm': keyword arguments of vllm.LLM (e.g. dtype, tensor_parallel_size, max_model_len); gpu_memory_utilization defaults to 0.4 so a local judge fits beside it. Part of the fingerprint.")


class ModelConfig(Section):
    path: str = Field(
        "smollm2",
        description="Local folder, .gguf file, hub id, or 'smollm2' for the embedded SmolLM2-135M-Instruct.",
    )
    max_length: int = Field(1024, ge=32, description="Prompt + response tokens (capped at the model's positions). sample/evaluate reject a prompt that leaves no room for max_new_tokens; PPO and RM scoring cut it from the left.")
    backend: Literal["transformers", "openai", "vllm"] = Field(
        "transformers",
        description="What generates for the stages whose policy is fixed (sample, redteam, evaluate): transformers in this process; openai: a server serving `path`'s model (policy.server; evaluate's trained arms still use transformers, no server serves them); vllm: vLLM in this process (needs vllm and a GPU; every evaluated arm). PPO and RM training always use transformers. The tokenizer and chat template come from `path` in every case.",
    )
    server: PolicyServerConfig = Field(default_factory=PolicyServerConfig, description="Settings of the openai and vllm backends.")

    def fingerprint_view(self, *, generation: bool = True) -> dict:
        """What of this section decides a stage's outputs: the model and its length, plus, for a
        stage that generates with a serving backend, that backend and the settings that change
        its texts (not endpoints, keys, concurrency or timeouts). The transformers backend's view
        is what the section was before backends existed, so no earlier run re-runs."""
        view = self.model_dump(mode="json", exclude={"backend", "server"})
        if generation and self.backend != "transformers":
            server = self.server
            view["backend"] = self.backend
            view["server"] = {"model": server.model, "extra_body": server.extra_body} if self.backend == "openai" else {"vllm": server.vllm}
        return view


class GenerationConfig(Section):
    max_new_tokens: int = Field(64, ge=1, description="Response length cap; small keeps CPU runs short.")
    temperature: float = Field(0.8, ge=0.0, description="0 means greedy; sampling gives the labeler distinct responses.")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="Nucleus sampling mass.")
    batch_size: int = Field(8, ge=1, description="Prompts generated together.")


PromptFormat = Literal["hrlaif", "gsm8k", "mmlu", "math", "trl", "columns"]


class PromptColumns(Section):
    """Where each prompt field is in a dataset's rows; a key left unset keeps the preset's column."""

    id: str | None = Field(None, description="Column of unique ids; unset: '<source name>-<row number>'.")
    prompt: str | None = Field(None, description="Column of the prompt: a string, or a list of {role, content} messages (TRL conversational).")
    messages: str | None = Field(None, description="Column of a list of {role, content} messages ending with a user turn.")
    category: str | None = Field(None, description="Column of the category (math, multiple_choice, harmful, open_ended); unset: data.category.")
    reference: str | None = Field(None, description="Column of the final answer (math) or right option (multiple choice: a letter or a 0-based index), taken as it is.")
    choices: str | None = Field(None, description="Column of the list of option texts (multiple choice).")


class DataConfig(Section):
    train_prompts: str = Field(
        "bundled:train",
        description="Prompts: 'bundled:train', a local .jsonl/.json/.parquet/.arrow/.csv file or a folder of them (or one saved by datasets), or 'hub:NAME' for a Hugging Face dataset (needs the hub).",
    )
    eval_prompts: str = Field("bundled:eval", description="Held-out prompts, from any source train_prompts takes; 'bundled:eval' by default.")
    max_train_prompts: int | None = Field(None, ge=1, description="Use at most this many train prompts (balanced over categories).")
    max_eval_prompts: int | None = Field(None, ge=1, description="Use at most this many eval prompts (balanced over categories).")
    format: PromptFormat = Field(
        "hrlaif",
        description="How rows become prompts. hrlaif: our schema, strictly (unknown keys are errors); gsm8k: question + answer '... #### N' (math, reference N); "
        "mmlu: question, choices, answer index (multiple_choice, options written into the prompt); math: problem + solution's last \\boxed{} (math); "
        "trl: TRL prompt-only, 'prompt' a string or a list of messages; columns: data.columns. Columns a preset does not use pass through in each prompt's "
        "'extra'. Bundled sets are always hrlaif.",
    )
    eval_format: PromptFormat | None = Field(None, description="The format of eval_prompts when it differs from data.format (unset: the same).")
    columns: PromptColumns = Field(default_factory=PromptColumns, description="Column names: where each field is for format 'columns'; a key set here overrides a preset's column. Applies to eval_prompts too unless eval_columns is set.")
    eval_columns: PromptColumns | None = Field(None, description="Column names of eval_prompts when they differ from the train set's (unset: data.columns).")
    category: Literal["math", "multiple_choice", "harmful", "open_ended"] | None = Field(
        None, description="Category of every row when no category column is mapped; unset: the preset's (gsm8k, math: math; mmlu: multiple_choice; trl, columns: open_ended)."
    )
    train_split: str = Field("train", description="Split of a hub dataset or multi-split folder read for training (a source with one split uses it).")
    eval_split: str = Field("test", description="Split read for evaluation; hub datasets name their held-out split 'test' most often.")
    hub_subset: str | None = Field(None, description="The hub dataset's config name when it has several (openai/gsm8k: 'main'; cais/mmlu: 'all').")

    @model_validator(mode="after")
    def _columns_format_names_the_prompt(self) -> DataConfig:
        for which in ("train", "eval"):
            columns = self.columns_of(which)  # type: ignore[arg-type]
            if self.format_of(which) == "columns" and not (columns.prompt or columns.messages):  # type: ignore[arg-type]
                key = "data.eval_columns" if which == "eval" and self.eval_columns is not None else "data.columns"
                fmt = "data.eval_format" if which == "eval" and self.eval_format else "data.format"
                raise ValueError(f"{fmt} 'columns' needs {key}.prompt or {key}.messages")
        return self

    @model_serializer(mode="wrap")
    def _unset_eval_columns_left_out(self, handler: SerializerFunctionWrapHandler) -> dict:
        # Left out of dumps while unset: configs, fingerprints and source stamps read as before it existed.
        return {k: v for k, v in handler(self).items() if not (k == "eval_columns" and v is None)}

    def format_of(self, which: Literal["train", "eval"]) -> str:
        return (self.eval_format or self.format) if which == "eval" else self.format

    def columns_of(self, which: Literal["train", "eval"]) -> PromptColumns:
        return self.eval_columns if which == "eval" and self.eval_columns is not None else self.columns

    def columns_key(self, which: Literal["train", "eval"]) -> str:
        """The config key `columns_of(which)` comes from."""
        return "data.eval_columns" if which == "eval" and self.eval_columns is not None else "data.columns"


class SampleConfig(Section):
    num_samples: int = Field(2, ge=2, description="Responses per prompt (K); labeling compares them in pairs.")
    generation: GenerationConfig = Field(default_factory=GenerationConfig)


class SimulatedJudgeConfig(Section):
    length_bias: float = Field(0.7, ge=0.0, le=1.0, description="Chance the longer response wins when the judge has no other reason.")
    correctness_blindness: float = Field(0.8, ge=0.0, le=1.0, description="Chance the judge ignores which answer is correct.")
    position_bias: float = Field(0.2, ge=0.0, le=1.0, description="Chance the judge picks the first slot whatever it holds.")


class JudgeBudgetConfig(Section):
    max_calls: int | None = Field(None, ge=0, description="Most requests sent to the judge server in one run (retries and re-asks count); None: unlimited.")
    max_tokens: int | None = Field(None, ge=0, description="Most prompt + completion tokens spent in one run; None: unlimited.")
    max_cost_usd: float | None = Field(None, ge=0, description="Most USD spent in one run, priced from judge.prices (the model must be listed); None: unlimited.")


class JudgeConfig(Section):
    backend: Literal["local", "openai", "simulated"] = Field(
        "local", description="local: a transformers model scores options by log-probabilities; openai: any OpenAI-compatible server; simulated: documented biases, for experiments."
    )
    model: str = Field("smollm2", description="Model path for 'local'; model name for 'openai'.")
    base_urls: BaseUrls
    api_key_env: str = Field("OPENAI_API_KEY", description="Environment variable holding the API key (never written anywhere).")
    api_key_file: ApiKeyFile = None
    concurrency: int = Field(8, ge=1, description="Requests in flight for 'openai'.")
    batch_size: int = Field(8, ge=1, description="Questions scored together by 'local'.")
    timeout_s: float = Field(60.0, gt=0, description="Per-request timeout for 'openai'.")
    max_retries: MaxRetries = 4
    max_tokens: int = Field(8, ge=1, description="Completion tokens the judge may spend on a verdict.")
    seed: int = Field(0, description="Seed for the simulated judge.")
    cache: bool = Field(True, description="Keep every answer in a SQLite cache: a re-run or a resumed run never pays twice.")
    cache_file: Path | None = Field(None, description="The cache file; default RUN/judge_cache.sqlite. Share one file across runs to share answers.")
    budget: JudgeBudgetConfig = Field(
        default_factory=JudgeBudgetConfig,
        description="Limits on requests, tokens and cost of 'openai', checked before each request; cached answers are free.",
    )
    prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="Model name -> USD per 1M (prompt, completion) tokens; a model not listed is counted at cost 0, with a warning.",
    )
    constrain: bool = Field(True, description="'openai': allow only the option tokens (logit_bias, max 1 token) when their ids are known (judge.option_token_ids, or the server's tokenize route: llama.cpp, llama-cpp-python, vLLM), so every verdict comes from one request; otherwise the reply is parsed as text.")
    option_token_ids: dict[str, list[int]] = Field(default_factory=dict, description="'openai': token ids per option label (e.g. from tiktoken for OpenAI models, which have no tokenize route); options listed here are not probed.")
    extra_body: ExtraBody
    reasoning: bool = Field(False, description="'openai': the model reasons before answering (o-series and similar): send max_completion_tokens, no temperature, no logprobs, and read the verdict from a final 'Verdict: X' line.")
    reasoning_max_tokens: int = Field(4096, ge=16, description="Completion tokens (thinking included) a reasoning judge may spend per verdict.")
    templates_dir: Path | None = Field(None, description="Folder of <task>.yaml files that replace the built-in judge templates (keys of hrlaif.judge.templates.Template); a template's content hash is part of the cache key, so an edited template re-asks.")
    retry_unscorable: bool = Field(False, description="Ask again questions whose cached verdict was unparseable after the re-asks (by default they are cached as unscorable, so a re-run does not pay for them again); --retry-unscorable sets it.")
    permute_labels: bool = Field(True, description="Ask single-order questions (refusal, answer_match, reasoning, acceptable, harm) twice with their options shown as letters in two orders and keep only a verdict both agree on, so a response opening with 'YES' cannot get its verdict echoed; doubles those questions' cost. Not used by 'simulated'.")
    simulated: SimulatedJudgeConfig = Field(default_factory=SimulatedJudgeConfig)
    require_qualified: bool = Field(False, description="Stop before labeling (and before evaluation, for an evaluation judge) when the judge exam does not qualify this judge on every task, with the task and the shortfall; off: the run goes on and the report shows every figure resting on an unqualified task as not meaningful.")

    # An empty templates_dir would read templates from the current folder, an empty cache_file
    # would open "." as the cache; neither is what a blank value means.
    _paths_given = field_validator("templates_dir", "cache_file", mode="before")(_path_given)


class JudgeCheckConfig(Section):
    enabled: bool = Field(True, description="run, compare and demo examine each judge first (a cached stage, RUN/judge-check/); off: the report marks every judge-derived figure as coming from an unexamined judge.")
    exam: Path | None = Field(None, description="JSONL exam of the bundled exam's shape (one ExamItem a line); None: the bundled exam built from the bundled prompt sets.")
    floor: float = Field(0.1, ge=0.0, lt=0.5, description="How far above chance the exact lower 95% bound of a task's accuracy on each true answer must be to qualify; 0.1 asks a yes/no task for > 60% on YES and on NO, which a judge at that line passes at most 2.5% of the time.")
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="Level of the exam's intervals.")
    per_answer: int = Field(20, ge=2, description="Bundled exam size: distinct items per option and task (harm: 2/3 of it, preference: 3x), half of them in the test split; at most 24 (the bundled banks). 20 gives 10 test items per answer of a yes/no task: only 10/10 clears 60% (exact bound 69%); below 16 (8 per answer) no score can qualify a yes/no task.")
    calibrate: bool = Field(True, description="For judges that give option probabilities, fit each pointwise task's decision rule on the calibration split and show what it would score beside the grade (if_calibrated). The grade is always of the raw verdicts: labeling and evaluation never apply the rule.")


STEPS = ("correctness", "reasoning", "refusal", "preference")


def _default_routes() -> dict[str, list[str]]:
    return {
        "math": ["correctness", "reasoning", "preference"],
        "multiple_choice": ["correctness", "preference"],
        "harmful": ["refusal", "preference"],
        "open_ended": ["preference"],
    }


class LabelConfig(Section):
    mode: Literal["rlaif", "hrlaif"] = Field("rlaif", description="rlaif: judge preference only (the baseline); hrlaif: hybrid labels.")
    routes: dict[str, list[str]] = Field(
        default_factory=_default_routes,
        description="hrlaif: per category, the steps that rank responses, in order; 'preference' (the judge, both orders) breaks ties and must come last. Categories left out keep their default route.",
    )
    answer_match_fallback: bool = Field(True, description="hrlaif: when a verifier cannot extract an answer, ask the judge whether the final answer matches the reference.")

    @field_validator("routes")
    @classmethod
    def _check_routes(cls, routes: dict[str, list[str]]) -> dict[str, list[str]]:
        from hrlaif.records import CATEGORIES, KEYED_CATEGORIES

        # A route given for one category leaves the others at their defaults (set [] to skip one).
        routes = {**_default_routes(), **routes}
        for category, steps in routes.items():
            if category not in CATEGORIES:
                raise ValueError(f"routes: unknown category '{category}' (known: {', '.join(CATEGORIES)})")
            for step in steps:
                if step not in STEPS:
                    raise ValueError(f"routes.{category}: unknown step '{step}' (known: {', '.join(STEPS)})")
            if "preference" in steps and steps[-1] != "preference":
                raise ValueError(f"routes.{category}: 'preference' must be the last step")
            if len(set(steps)) != len(steps):
                raise ValueError(f"routes.{category}: a step is listed twice")
            if ("correctness" in steps or "reasoning" in steps) and category not in KEYED_CATEGORIES:
                raise ValueError(f"routes.{category}: correctness/reasoning need a reference answer (keyed categories: {', '.join(KEYED_CATEGORIES)})")
        return routes
    soft_labels: bool = Field(True, description="When the two orders disagree, let the averaged option probabilities decide (if the judge gives them) instead of a tie; hrlaif: the same for the two label orders of a refusal, answer-match or reasoning verdict (off: their disagreement ranks no response).")
    tie_margin: float = Field(0.1, ge=0.0, lt=0.5, description="A both-orders preference whose averaged probability for the winner is less than 0.5 + this (0.6 by default) is a tie, not a pair: a judge that barely leans has said nothing, and a small local judge's near-0.5 probabilities would otherwise become confident-looking labels. hrlaif: a refusal, answer-match or reasoning verdict that leans less than this from even ranks no response either (no information). Applies only to judges that give probabilities; 0 keeps every lean toward the winner.")
    no_information: Literal["next_step", "drop"] = Field("next_step", description="hrlaif: a pair that a step cannot rank because a signal failed (verifier unknown/error, unscorable judge verdict) goes on to the next step of its route (next_step), or is dropped (drop); either way the failed signal never ranks as a tier, and the provenance says why.")


def _trl_fields(kind: str) -> set[str]:
    import dataclasses

    import trl  # only when trainer_args are given: trl takes seconds to import

    return {f.name for f in dataclasses.fields(getattr(trl, kind))}


def check_trainer_args(args: dict[str, Any], kind: str, ours: dict[str, str]) -> dict[str, Any]:
    """`args` if every key is a field of TRL's `kind` (RewardConfig, DPOConfig) that hrlaif does not
    set itself; else a ValueError naming the key (and the close field or our own key)."""
    import difflib

    if not args:
        return args
    known = _trl_fields(kind)
    for key in args:
        if key in ours:
            raise ValueError(f"'{key}' is set by hrlaif" + (f"; use {ours[key]}" if ours[key] else ""))
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
            raise ValueError(f"'{key}' is not a field of TRL's {kind}" + (f"; did you mean '{close[0]}'?" if close else ""))
    return args


# TRL fields hrlaif sets from its own settings (a trainer_args key among them is refused: which would win?).
_TRAINER_SET = {"output_dir": "", "report_to": "tracking.report_to", "run_name": "", "project": "tracking.project", "seed": "seed",
                "use_cpu": "", "bf16": "", "fp16": "", "save_strategy": "", "disable_tqdm": "", "logging_steps": ""}
REWARD_TRAINER_SET = {**_TRAINER_SET, "per_device_train_batch_size": "reward.batch_size", "num_train_epochs": "reward.epochs",
                      "learning_rate": "reward.learning_rate", "activation_checkpointing": "reward.gradient_checkpointing",
                      "gradient_checkpointing": "reward.gradient_checkpointing"}
DPO_TRAINER_SET = {**_TRAINER_SET, "per_device_train_batch_size": "dpo.batch_size", "num_train_epochs": "dpo.epochs",
                   "learning_rate": "dpo.learning_rate", "max_steps": "dpo.max_steps", "beta": "dpo.beta"}


def _trainer_args_field(kind: str, extra: str = "") -> Any:
    return Field(default_factory=dict, description=(
        f"More of TRL's {kind} fields, passed as they are (e.g. gradient_accumulation_steps, warmup_steps, lr_scheduler_type, "
        f"max_length{extra}); a key TRL does not have, or one hrlaif sets from its own settings, is an error naming it. Part of the "
        "stage's fingerprint when set."))


def _empty_trainer_args_left_out(dumped: dict) -> dict:
    # Left out of dumps while empty: configs and fingerprints read as before trainer_args existed.
    return {k: v for k, v in dumped.items() if not (k == "trainer_args" and v == {})}


class RewardConfig(Section):
    epochs: float = Field(2.0, gt=0, description="Passes over the pairs.")
    learning_rate: float = Field(5e-5, gt=0, description="AdamW learning rate.")
    batch_size: int = Field(8, ge=1, description="Pairs per optimizer step.")
    eval_fraction: float = Field(0.2, ge=0.0, lt=1.0, description="Pairs held out to report RM accuracy.")
    gradient_checkpointing: bool = Field(True, description="Recompute activations in the backward pass instead of storing them: far less activation memory for ~30% more compute, the same loss. On by default because TRL's RewardTrainer turns it on by default and every RM trained so far had it; false trades memory for speed. Not part of the stage's fingerprint (it changes memory, not results).", json_schema_extra=RESULTS_NEUTRAL)
    loss: Literal["hard", "soft"] = Field("hard", description="hard: TRL's Bradley-Terry loss, every pair taken as certain (the paper's RM); soft: the cross-entropy against each pair's chosen_prob, the judge's probability that chosen is better (Lee et al.'s RLAIF), so a judge that barely leaned teaches the RM little. Pairs decided by a rule have chosen_prob 1, where the two losses agree.")
    trainer_args: dict[str, Any] = _trainer_args_field("RewardConfig", "; max_length also caps the held-out accuracy's scoring")
    method: Literal["full", "head"] = Field(
        "full",
        description="full: fine-tune the whole backbone with TRL's RewardTrainer (the paper's RM); head: keep the backbone frozen and fit only "
                    "the linear score head on its features (hrlaif.train.reward_head): one forward pass per text and a convex fit, ~1 minute "
                    "instead of ~5 per arm for SmolLM2 on 2 CPU cores, the choice of the study and the demo. epochs, learning_rate, "
                    "batch_size, gradient_checkpointing and trainer_args apply to full only.",
    )
    head_l2: float = Field(0.01, ge=0.0, description="head: L2 penalty on the head's weights over standardized features (0.001-0.1 gave the same best-of-n picks in the pilot).")

    @field_validator("trainer_args")
    @classmethod
    def _trl_reward_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_trainer_args(value, "RewardConfig", REWARD_TRAINER_SET)

    @model_validator(mode="after")
    def _trainer_args_need_full(self) -> RewardConfig:
        if self.method == "head" and self.trainer_args:
            raise ValueError("trainer_args configure TRL's RewardTrainer, which method: head does not use (set method: full, or drop trainer_args)")
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict:
        dumped = _empty_trainer_args_left_out(handler(self))
        # Left out while full (the default): configs and fingerprints read as before `method` existed.
        if dumped.get("method") == "full":
            dumped = {k: v for k, v in dumped.items() if k not in ("method", "head_l2")}
        return dumped


class LoraAdapters(Section):
    """LoRA adapters on a policy (`dpo.lora`); `ppo.lora` adds the critic's."""

    enabled: bool = Field(False, description="Train LoRA adapters instead of all weights; the reference policy is the adapter-free model.")
    r: int = Field(16, ge=1, description="Adapter rank.")
    alpha: int = Field(32, ge=1, description="Adapter scale.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Adapter dropout, for DPO; PPO turns it off (as every dropout), since its ratio compares two forwards of the same weights.")


class LoraConfig(LoraAdapters):
    critic: bool = Field(False, description="Also make PPO's critic LoRA adapters (and a value head) on the reward model's backbone, whose adapters-off forward is the frozen RM: one RM copy in memory instead of two and optimizer state for the adapters only. Off by default: an adapter critic learns values more slowly, and no run here has measured what that costs PPO yet.")

    @model_validator(mode="after")
    def _critic_needs_lora(self) -> LoraConfig:
        if self.critic and not self.enabled:
            raise ValueError("critic: true needs enabled: true (the critic's adapters are LoRA adapters)")
        return self


class HybridRewardConfig(Section):
    """Weights of the rule part of `ppo.reward: hybrid` (hrlaif.reward.hybrid), in RM score units."""

    verified_weight: float = Field(1.0, ge=0.0, description="Added to the score of a keyed (math, multiple_choice) response the verifier finds correct, subtracted when wrong, 0 when it cannot tell. 1.0 is one RM logit, a 73% preference under Bradley-Terry: about the spread of a small RM's scores, so the key counts without drowning the RM.")
    refusal_weight: float = Field(1.0, ge=0.0, description="Added to the score of a harmful prompt's response whose wording is a refusal (refusal patterns, no judge in the RL loop); nothing otherwise, since the patterns only ever decide one way. 1.0 for the same reason as verified_weight.")
    verify_timeout_s: float = Field(2.0, gt=0.0, description="Time bound of one math check (as in labeling); a check that runs out counts 0.")


# Chat special tokens a remote trainer leaves in the text it sends (OpenRLHF decodes with
# skip_special_tokens=False): ChatML / Qwen, GPT-2 / SmolLM, Llama 2 / Mistral, Llama 3, Phi-3, Gemma.
COMMON_SPECIAL_TOKENS = ["<|im_end|>", "<|endoftext|>", "</s>", "<|eot_id|>", "<|end_of_text|>", "<|end|>",
                         "<end_of_turn>", "<eos>", "<pad>", "<|pad|>", "<|finetune_right_pad_id|>"]


class RewardServerConfig(Section):
    """`hrlaif reward-server`: how it reads what OpenRLHF sends (hrlaif.reward.server)."""

    label_category: Literal["infer", "math", "multiple_choice"] = Field(
        "infer",
        description="Category of a label sent as a plain reference string (OpenRLHF's usual --label_key answer): infer reads a single "
                    "option letter whose options the prompt lists (lines 'A. ...', 'B) ...') as multiple choice, anything else as math; "
                    "an object label's own category always wins.",
    )
    special_tokens: list[str] = Field(
        default_factory=lambda: list(COMMON_SPECIAL_TOKENS),
        description="Tokens cut from the end of a response (and from the start of a query, as left padding) before the rules read it, "
                    "so 'B<|im_end|>' reads as B; the RM's tokenizer's own special tokens are added when --rm is given. The common "
                    "chat end and pad tokens by default, since without --rm the server cannot know the policy's.",
    )
    max_rows: int = Field(
        1024, ge=1,
        description="Most rows (queries) in one request; more gets 413 naming this key. 1024 holds an OpenRLHF rollout of 128 prompts x 8 "
                    "samples; a bigger batch could only hold the server longer, and a client can always split it.",
    )
    max_request_bytes: int = Field(
        32 * 1024**2, ge=1024,
        description="Most bytes in one request body; more gets 413 before it is parsed. 32 MiB is 1024 rows of 16 KiB (prompt and query "
                    "of about 2k tokens each): a bound on the memory one request can take, far above what real rows need.",
    )
    request_timeout_s: float = Field(
        60.0, gt=0,
        description="Most seconds one request may take to score (waiting for a free scorer included); past it the request gets 503 "
                    "saying how many rows were scored, never a batch with rows silently scored 0. Normal rows take milliseconds, a "
                    "crafted one up to ppo.hybrid.verify_timeout_s: 60 s lets a full batch through with some slow rows, and is below "
                    "the HTTP timeouts remote-RM clients use, so the client sees the reason rather than its own timeout.",
    )
    concurrency: int = Field(
        4, ge=1,
        description="Requests scored at once, each with its own verifier process (about 100 MB); more wait their turn within "
                    "request_timeout_s. More than one, so a client sending slow rows does not hold up the others.",
    )


class DPOConfig(Section):
    """`hrlaif dpo`: the policy trained directly on an arm's RM pairs with TRL's DPOTrainer."""

    epochs: int = Field(1, ge=1, description="Passes over the pairs; one, as the RM, so the two algorithms see the data the same number of times.")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps (None: the epochs decide); caps a CPU run.")
    batch_size: int = Field(4, ge=1, description="Pairs per optimizer step.")
    learning_rate: float = Field(5e-6, gt=0, description="AdamW learning rate; TRL's DPO examples use 5e-7 for full fine-tuning, LoRA adapters need more.")
    beta: float = Field(0.1, gt=0, description="DPO's KL strength (TRL's default): the implicit reward's scale, the same role as ppo.kl_coef.")
    lora: LoraAdapters = Field(
        default_factory=lambda: LoraAdapters(enabled=True),
        description="LoRA adapters by default (merged into the saved policy): on CPU a DPO step on adapters costs a fraction of a full one, and the reference is the adapter-free model, no second copy.",
    )
    trainer_args: dict[str, Any] = _trainer_args_field("DPOConfig", ", loss_type")

    @field_validator("lora", mode="before")
    @classmethod
    def _no_critic(cls, value: Any) -> Any:
        # DPO has no critic; `critic: false` is what every config written before this dumped, so it still loads.
        if isinstance(value, dict) and "critic" in value:
            if value["critic"] is not False:
                raise ValueError("DPO has no critic: 'critic' is a ppo.lora setting")
            value = {k: v for k, v in value.items() if k != "critic"}
        return value

    @field_validator("trainer_args")
    @classmethod
    def _trl_dpo_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_trainer_args(value, "DPOConfig", DPO_TRAINER_SET)

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict:
        return _empty_trainer_args_left_out(handler(self))

    def fingerprint_view(self) -> dict:
        """The section as DPO's fingerprint sees it: as it dumped before lora.critic left it (false,
        always), so no earlier DPO arm re-runs."""
        view = self.model_dump(mode="json")
        view["lora"]["critic"] = False
        return view


class CompareConfig(Section):
    algorithms: list[Literal["ppo", "dpo"]] = Field(
        ["ppo"],
        description="How run/compare train each labeling arm: ppo (the paper's RM + PPO; arms 'rlaif', 'hrlaif'), dpo (DPO on the same pairs; arms 'dpo-rlaif', 'dpo-hrlaif'), or both side by side, evaluated alike; [] trains no policy, only the RMs that best-of-n measures (needs best_of_n.enabled; the demo's cheapest tiers), and evaluation grades the start policy alone.",
    )
    oracle: bool = Field(
        False,
        description="The positive control: a third arm 'oracle' whose labels come from the verifier alone (a correct answer beats a wrong one on keyed prompts; no judge), trained and evaluated like the others. It must beat the start policy: where its keyed accuracy gain has no 95% interval above 0, the report says the design cannot detect an effect of the size expected and reads no HRLAIF-vs-RLAIF difference as a finding. Off by default (one more RM and policy to train); the study and the demo turn it on.",
    )


class PPOConfig(Section):
    steps: int = Field(8, ge=1, description="PPO iterations (rollout + update).")
    batch_size: int = Field(8, ge=1, description="Prompts per rollout.")
    mini_batch_size: int = Field(4, ge=1, description="Sequences per gradient step.")
    ppo_epochs: int = Field(2, ge=1, description="Passes over each rollout.")
    learning_rate: float = Field(3e-6, gt=0, description="Policy learning rate.")
    critic_learning_rate: float = Field(1e-5, gt=0, description="Critic learning rate.")
    kl_coef: float = Field(0.05, ge=0.0, description="Per-token KL penalty to the start policy.")
    cliprange: float = Field(0.2, gt=0, description="PPO ratio clip.")
    cliprange_value: float = Field(0.2, gt=0, description="Value clip.")
    vf_coef: float = Field(0.5, ge=0.0, description="Weight of the value loss.")
    gamma: float = Field(1.0, ge=0.0, le=1.0, description="Discount; 1 because the reward comes once at the end.")
    lam: float = Field(0.95, ge=0.0, le=1.0, description="GAE lambda.")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping.")
    whiten_rewards: bool = Field(False, description="Normalise scores within a rollout.")
    missing_eos_penalty: float | None = Field(None, description="Subtracted from the score of responses that hit max_new_tokens.")
    checkpoint_every: int = Field(4, ge=1, description="Save a resumable checkpoint every N steps.")
    gradient_checkpointing: bool = Field(False, description="Policy and critic recompute activations in the backward pass instead of storing them: far less activation memory for ~30% more update compute, the same losses; rollouts are unaffected. Off by default: small models fit without it. Not part of the stage's fingerprint (it changes memory, not results).", json_schema_extra=RESULTS_NEUTRAL)
    generation: GenerationConfig = Field(default_factory=lambda: GenerationConfig(temperature=1.0, top_p=1.0))
    lora: LoraConfig = Field(default_factory=LoraConfig)
    reward: Literal["rm", "hybrid"] = Field("rm", description="What PPO maximises. 'rm': the reward model's score, the paper's method (default). 'hybrid': plus the verifier's result on keyed prompts and the refusal check on harmful ones (ppo.hybrid), as verifiable-reward RL does.")
    hybrid: HybridRewardConfig = Field(default_factory=HybridRewardConfig, description="Weights of the rule part when reward is 'hybrid'.")
    monitor_every: int = Field(0, ge=0, description="Gold monitor: every N steps the current policy answers ppo.monitor_prompts held-out keyed and harmful prompts (greedy) and metrics.jsonl gets gold/verified_accuracy, gold/refusal_rate and the RM's score of those answers (before the rollouts of steps 1, 1+N, ...; and the final policy after the last step, as gold_final/*), with a warning when the RM score rose since the first check while accuracy fell beyond noise (a paired sign test on the keyed prompts, p < 0.05). 0 (off) by default so the paper's pipeline costs what it did; a study run turns it on.")
    monitor_prompts: int = Field(24, ge=1, description="How many prompts the monitor asks, round-robin over math, multiple choice and harmful (24 = 8 each): a few seconds of greedy generation on CPU; the Wilson intervals in the log say how little 8 can tell.")
    monitor_source: str = Field("bundled:eval", description="Prompt file the monitor draws from ('bundled:eval' or a path): held out from training, so the monitor sees what the policy was not trained on.")
    monitor_max_new_tokens: int = Field(64, ge=1, description="Length cap of a monitor answer; 64 as evaluation's default, so its accuracy reads like evaluation's.")


class RedteamConfig(Section):
    enabled: bool = Field(True, description="Run AI red teaming and add its pairs to the hrlaif arm's RM data (the paper's harmlessness step).")
    attacks: Literal["generated", "bundled", "both"] = Field(
        "both", description="Attack prompts: written by the judge from seed topics x strategies, the bundled attacks_train set, or both (a small local judge writes poor attacks, so both by default).",
    )
    num_generated: int = Field(16, ge=0, description="Attacks the judge writes (topic x strategy cells, round robin) before dedup; 16 gives every topic and every strategy two attacks and stays cheap on CPU.")
    min_generated: int = Field(8, ge=0, description="Fewer usable generated attacks than this and the bundled attacks_train set is used too (said so in the summary).")
    max_attacks: int | None = Field(16, ge=1, description="Attacks the policy answers, balanced over topics (16 = 2 per topic): on CPU, answering and rewriting them is most of the stage's cost. None: all.")
    dedup_jaccard: float = Field(0.8, gt=0.0, le=1.0, description="Attacks whose word sets overlap this much (Jaccard) with an earlier one are near duplicates and dropped.")
    num_samples: int = Field(2, ge=1, description="Answers of the start policy per attack (K); more samples find more harmful answers.")
    generation: GenerationConfig = Field(
        default_factory=lambda: GenerationConfig(max_new_tokens=48),
        description="How the policy answers attacks; sampling (as in training) finds the harmful answers it really gives, and 48 tokens show whether it complies.",
    )
    attack_max_tokens: int = Field(48, ge=8, description="Length cap of an attack the judge writes; an attack is one short user message.")
    rewrite_max_tokens: int = Field(96, ge=16, description="Length cap of a rewrite: room for a refusal and two or three sentences of safe help (rewrites are the stage's longest generations).")
    max_share: float = Field(0.25, ge=0.0, lt=1.0, description="Most red-team pairs may make up of the hrlaif RM data, so harmlessness does not crowd out helpfulness.")


class EvaluateConfig(Section):
    generation: GenerationConfig = Field(default_factory=lambda: GenerationConfig(temperature=0.0))
    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="Level of the reported intervals.")
    max_attack_prompts: int = Field(16, ge=0, description="Held-out attacks (bundled attacks_eval, never used in training) answered by every policy for the harmful-answer rate; 16 = 2 per topic; 0 skips it.")
    toxicity_classifier: Path | None = Field(None, description="Local folder of an AutoModelForSequenceClassification (e.g. a ToxiGen RoBERTa) to score answers to the bundled ToxiGen-style prompts; None skips it.")
    toxicity_label: int = Field(1, ge=0, description="Index of the classifier's 'toxic' label (1 for the ToxiGen checkpoints).")
    max_toxicity_prompts: int | None = Field(None, ge=1, description="Use at most this many ToxiGen-style prompts (24 bundled); None: all.")
    win_ratio: bool = Field(True, description="Compare every arm's answer with the start policy's, judge asked in both orders (the paper's preference win ratio). With a local judge on CPU this is most of evaluation's cost (two long questions per prompt and arm); off: the report says it was not computed.")
    judge: JudgeConfig | None = Field(None, description="A judge of its own for grading (open-ended acceptability, refusals the patterns leave open, win ratio, harm of attack answers), examined like the labeling judge; None: the labeling judge grades, and the report says those grades are not independent of the training labels.")


class BestOfNConfig(Section):
    """`best-of-n`: each trained RM picks among K samples of the start policy on held-out keyed
    prompts, graded by the verifier (issue 29): labels -> RM -> selection, without RL."""

    enabled: bool = Field(False, description="run, compare and study add the best-of-n stages after the reward models (training the RMs even when compare.algorithms is dpo only); `hrlaif best-of-n` runs them either way. Off by default: a config without it keeps its stages and fingerprints.")
    prompts: str = Field("bundled:reach_eval", description="Held-out prompts, from any source data.eval_prompts takes (read as eval prompts); only keyed ones (math, multiple_choice) are used, others are skipped and counted. bundled:reach_eval: 440 keyed prompts a 135M policy gets right some of the time, split by fact from bundled:reach_train.")
    max_prompts: int | None = Field(260, ge=1, description="Use at most this many prompts (balanced over categories); None: all. 260 detect an 8-point best-of-n difference at 80% power when the per-prompt differences have SD 0.45 (hrlaif.power).")
    num_samples: int = Field(4, ge=2, description="Samples per prompt (K); the curve is reported at every k = 1..K.")
    generation: GenerationConfig = Field(
        default_factory=lambda: GenerationConfig(max_new_tokens=64, temperature=0.9, top_p=1.0, batch_size=32),
        description="How the start policy samples: temperature 0.9 gives distinct answers, 64 tokens let short answers finish (an answer cut off before it is read counts as not correct).",
    )

    def fingerprint_view(self) -> dict:
        """What decides the stages' results: everything but `enabled`, which only says whether run adds them."""
        return self.model_dump(mode="json", exclude={"enabled"})


TRACKERS: tuple[str, ...] = ("tensorboard", "wandb", "trackio", "mlflow")


class TrackingConfig(Section):
    report_to: list[str] = Field(
        default_factory=lambda: ["tensorboard"],
        description="Experiment trackers the RM (TRL's report_to) and PPO (accelerate's trackers) log to: any of tensorboard, wandb, trackio, mlflow; [] for none. "
        "As in TRL, a single name may be given as a string ('wandb'), 'none' means [] and 'all' every one of them that is installed. "
        "TensorBoard by default: it is installed with hrlaif and writes only local files (RUN/STAGE/tensorboard). A named tracker that is not installed is an error. "
        "RUN/ppo-MODE/metrics.jsonl is written either way and stays what the report reads.",
    )
    run_name: str | None = Field(None, description="Name the trackers show, as NAME/STAGE (e.g. demo/ppo-hrlaif), so a run's RM and PPO sort together; None: the run directory's name.")
    project: str = Field("hrlaif", description="Tracker project (wandb and trackio project, mlflow experiment) unless WANDB_PROJECT / MLFLOW_EXPERIMENT_NAME say otherwise.")

    @field_validator("report_to", mode="before")
    @classmethod
    def _as_trl_takes_it(cls, value: Any) -> Any:
        """TRL's spellings: a string for one tracker, 'none' for none, 'all' for every installed one."""
        if isinstance(value, str):
            value = [value] if value.strip() else []
        if isinstance(value, list) and all(isinstance(name, str) for name in value):
            if value == ["none"]:
                return []
            if value == ["all"]:
                import importlib.util

                return [name for name in TRACKERS if importlib.util.find_spec(name) is not None]  # tracker name == module name
            for word in ("none", "all"):
                if word in value:
                    raise ValueError(f"'{word}' stands alone (report_to: {word}), not in a list with other trackers")
        return value

    @field_validator("report_to")
    @classmethod
    def _known_trackers(cls, value: list[str]) -> list[str]:
        known = TRACKERS
        for name in value:
            if name not in known:
                raise ValueError(f"unknown tracker '{name}' (known: {', '.join(known)}; none or [] for none, all for every installed one)")
        return list(dict.fromkeys(value))


# What a study's run directory holds besides its labelers' folders (hrlaif.run_dir.RunDir): a
# labeler must not be named like one (case-insensitive, for case-insensitive file systems).
_STUDY_ROOT_NAMES = {"report", "sample", "eval", "redteam", "human", "audit", "best-of-n", "best-of-n-sample", "judge-check",
                     "judge-check-eval", "config.yaml", "study.json", "seeds.json", "power.json", "study.log"}
_STAGE_NAME_RE = re.compile(r"(?:label|rm|ppo|dpo|seed)-|judge_cache\.sqlite")


class StudyConfig(Section):
    labelers: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="`hrlaif study`: labelers to compare, name -> overrides of the `judge` section ({} keeps it as it is). Each runs the whole "
                    "comparison (start, RLAIF, HRLAIF) in RUN/NAME with its own labels, RMs and policies, graded the same way (evaluate.judge); "
                    "empty: one labeler, the config's judge, named after its backend.",
    )
    jobs: int = Field(
        1, ge=1, le=64,
        description="Labelers trained at once, each in its own process after the shared sampling, with (CPU cores / jobs) torch threads "
                    "unless OMP_NUM_THREADS is set; its output goes to RUN/NAME/study.log. 1 (one after the other, output on the console) "
                    "fits every machine; on a multi-core CPU whose decoding is memory-bound, 2 nearly halves the study's wall time.",
    )

    @field_validator("labelers")
    @classmethod
    def _names_are_folders(cls, value: dict) -> dict:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
                raise ValueError(f"labeler name '{name}' must be a folder name (letters, digits, '_', '.', '-')")
            if name.lower() in _STUDY_ROOT_NAMES or _STAGE_NAME_RE.match(name.lower()):
                # RUN/NAME would be a file or folder the study root writes itself (RUN/report/ at
                # the very end), or a stage folder that makes the root look like a single run.
                raise ValueError(f"labeler name '{name}' is a name the study's run directory uses itself; choose another")
        return value


class RunConfig(Section):
    run_dir: Path = Field(Path("runs/default"), description="Where every stage writes its outputs and manifest.")
    seed: int = Field(0, ge=0, lt=2**32, description="Seed for sampling, training and the simulated judge.")

    _run_dir_given = field_validator("run_dir", mode="before")(_path_given)
    policy: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    sample: SampleConfig = Field(default_factory=SampleConfig)
    judge: JudgeConfig = Field(default_factory=JudgeConfig)
    judge_check: JudgeCheckConfig = Field(default_factory=JudgeCheckConfig)
    label: LabelConfig = Field(default_factory=LabelConfig)
    reward: RewardConfig = Field(default_factory=RewardConfig)
    ppo: PPOConfig = Field(default_factory=PPOConfig)
    dpo: DPOConfig = Field(default_factory=DPOConfig)
    compare: CompareConfig = Field(default_factory=CompareConfig)
    redteam: RedteamConfig = Field(default_factory=RedteamConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    best_of_n: BestOfNConfig = Field(default_factory=BestOfNConfig)
    study: StudyConfig = Field(default_factory=StudyConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    reward_server: RewardServerConfig = Field(default_factory=RewardServerConfig)

    @model_validator(mode="after")
    def _mini_batch_fits(self) -> RunConfig:
        # A rollout holds ppo.batch_size sequences per process: a larger mini-batch would
        # silently be the whole rollout, one gradient step per epoch instead of several.
        if self.ppo.mini_batch_size > self.ppo.batch_size:
            raise ValueError(
                f"config key 'ppo.mini_batch_size' ({self.ppo.mini_batch_size}) must not be larger than "
                f"'ppo.batch_size' ({self.ppo.batch_size}), the sequences of one rollout"
            )
        return self

    @model_validator(mode="after")
    def _something_is_trained(self) -> RunConfig:
        if not self.compare.algorithms and not self.best_of_n.enabled:
            raise ValueError("config key 'compare.algorithms' is [] (no policy trained) and 'best_of_n.enabled' is false: nothing would be "
                             "trained or measured; name an algorithm (ppo, dpo) or turn best_of_n on")
        return self

    @model_validator(mode="after")
    def _labelers_are_judges(self) -> RunConfig:
        for name in self.study.labelers:
            self.labeler_judge(name)  # a bad override fails at load, naming its key
        return self

    def labeler_judge(self, name: str) -> JudgeConfig:
        """The `judge` section with study labeler `name`'s overrides applied (nested keys merged)."""
        merged = self.judge.model_dump()
        _deep_merge(merged, self.study.labelers[name])
        try:
            return JudgeConfig.model_validate(merged)
        except ValidationError as e:
            raise ValueError(_describe(e, f"study.labelers.{name}", JudgeConfig)) from None


def _did_you_mean(root: type[BaseModel], loc: tuple) -> str:
    """'; did you mean 'ppo.steps'?' for an unknown key close to one its section has (difflib)."""
    import difflib

    section: Any = root
    for part in loc[:-1]:
        field = section.model_fields.get(part) if isinstance(section, type) and issubclass(section, BaseModel) else None
        if field is None:
            return ""
        section = field.annotation
    if not (isinstance(section, type) and issubclass(section, BaseModel)):
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(section.model_fields), n=1, cutoff=0.6)
    return f"; did you mean '{'.'.join([*map(str, loc[:-1]), close[0]])}'?" if close else ""


def _describe(error: ValidationError, source: str, root: type[BaseModel] | None = None) -> str:
    root = root or RunConfig
    lines = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"])
        if not item["loc"]:  # a whole-config check (model_validator) names its keys itself
            lines.append(f"{source}: {item['msg'].removeprefix('Value error, ')}")
        elif item["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown config key '{key}'{_did_you_mean(root, tuple(item['loc']))}")
        else:
            lines.append(f"{source}: config key '{key}': {item['msg']}")
    return "; ".join(lines)


ALIAS_EXPANSION_LIMIT = 100_000
"""How many values aliases (`*name`) may add to a YAML file once expanded. A config has hundreds of
values; a "billion laughs" file of 9 short lines expands to hundreds of millions, which would never
finish validating (a million took 15 s and 369 MB)."""


def _check_aliases(root: yaml.Node) -> None:
    """Refuse a node graph whose aliases refer to a node that contains them (a cycle: no config
    can hold one) or expand it past ALIAS_EXPANSION_LIMIT values. Sizes are counted per node
    once (memoized), so the check is linear in the file, whatever the expansion."""
    size: dict[int, int] = {}
    open_nodes: set[int] = set()
    distinct = 0

    def walk(node: yaml.Node) -> int:
        nonlocal distinct
        if id(node) in size:
            return size[id(node)]
        if id(node) in open_nodes:
            raise yaml.composer.ComposerError(None, None, "an alias refers to the anchored node that contains it (a cycle)", node.start_mark)
        distinct += 1
        total = 1
        if isinstance(node, (yaml.SequenceNode, yaml.MappingNode)):
            open_nodes.add(id(node))
            children = node.value if isinstance(node, yaml.SequenceNode) else [part for pair in node.value for part in pair]
            for child in children:
                total += walk(child)
            open_nodes.discard(id(node))
        size[id(node)] = total
        return total

    expanded = walk(root)
    if expanded - distinct > ALIAS_EXPANSION_LIMIT:
        raise yaml.composer.ComposerError(
            None, None, f"aliases expand it to {expanded:,} values, more than the {ALIAS_EXPANSION_LIMIT:,} allowed (an alias bomb?)", root.start_mark)


class SafeYamlLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses cyclic aliases and an alias expansion past ALIAS_EXPANSION_LIMIT
    (_check_aliases), before anything is constructed: for every YAML file a user hands us."""

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None:
            _check_aliases(node)
        return node


class _StrictLoader(SafeYamlLoader):
    """safe_load that refuses a key given twice in one mapping (PyYAML keeps the last silently).
    A merge key (`<<: *base`) is not a key of its own: what it brings in may be overridden, as
    YAML says, and it is left to SafeLoader to merge."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key '{key}' appears twice", key_node.start_mark)
            seen.add(key if isinstance(key, (str, int, float, bool)) else id(key))
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML strictly; every failure is one HrlaifError naming `source` and, where known, the line."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = " ".join(str(exc.problem or exc.context or "syntax error").split())
        raise HrlaifError(f"{where}: not valid YAML ({problem})") from None
    except yaml.YAMLError as exc:
        raise HrlaifError(f"{source}: not valid YAML ({' '.join(str(exc).split())})") from None
    except RecursionError:
        raise HrlaifError(f"{source}: YAML nested too deeply") from None
    except ValueError as exc:  # e.g. an integer past Python's digit limit
        raise HrlaifError(f"{source}: {' '.join(str(exc).split())}") from None


def _set_dotted(data: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise HrlaifError(f"override '{dotted}': '{key}' is not a section")
        node = child
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """'ppo.steps=4' -> ('ppo.steps', 4); the value is read as YAML so numbers and lists work."""
    if "=" not in text:
        raise HrlaifError(f"override '{text}': expected KEY=VALUE, e.g. ppo.steps=4")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise HrlaifError(f"override '{text}': empty key")
    value = load_yaml(raw, f"override '{key}'") if raw.strip() else ""
    return key, value


def load_config(path: str | Path | None = None, overrides: list[str] | None = None, base: dict | None = None) -> RunConfig:
    """Build a RunConfig from `base`, then the YAML file at `path`, then `overrides`."""
    data: dict = json.loads(json.dumps(base or {}))
    source = "config"
    if path is not None:
        path = Path(path)
        source = str(path)
        if path.is_dir():
            raise HrlaifError(f"{path}: is a directory, expected a YAML config file")
        if not path.is_file():
            raise HrlaifError(f"{path}: config file not found")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise HrlaifError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
        loaded = load_yaml(text, str(path)) or {}
        if not isinstance(loaded, dict):
            raise HrlaifError(f"{path}: the top level must be a mapping of sections")
        _deep_merge(data, loaded)
    for text in overrides or []:
        key, value = parse_override(text)
        _set_dotted(data, key, value)
        source = f"{source} + overrides" if "overrides" not in source else source
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise HrlaifError(_describe(exc, source)) from None


def _deep_merge(into: dict, new: dict) -> None:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            into[key] = value


def results_view(section: BaseModel) -> dict:
    """A section as a stage fingerprint sees it: every setting but those marked RESULTS_NEUTRAL
    (in nested sections too)."""
    return section.model_dump(mode="json", exclude=_neutral_fields(section) or None)


def _neutral_fields(section: BaseModel) -> dict:
    """model_dump's `exclude` for the RESULTS_NEUTRAL fields of `section` and its subsections."""
    exclude: dict[str, Any] = {}
    for name, field in type(section).model_fields.items():
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("results_neutral"):
            exclude[name] = True
        elif isinstance(value := getattr(section, name), BaseModel) and (nested := _neutral_fields(value)):
            exclude[name] = nested
    return exclude


def fingerprint(*parts: Any) -> str:
    """A stable hash of config sections and upstream fingerprints: equal inputs, equal hash."""
    blob = json.dumps(
        [p.model_dump(mode="json") if isinstance(p, BaseModel) else p for p in parts], sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def dump_config(config: RunConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
