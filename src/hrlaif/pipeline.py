"""The stages in order, each reading and writing files under one run directory.

A stage whose manifest says it finished with the same fingerprint (its config section plus
its inputs' fingerprints) is skipped, so an interrupted `run` picks up where it stopped and
a changed setting re-runs exactly the stages downstream of it.

The hrlaif arm also gets AI red teaming (`redteam`, needing only the start policy and the
judge): its pairs join the arm's RM data, so `rm-hrlaif` depends on it when it is enabled.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from rich.console import Console

from hrlaif.config import RunConfig, dump_config, fingerprint
from hrlaif.data import bundled_path
from hrlaif.errors import HrlaifError
from hrlaif.jsonl import atomic_path, read_jsonl, write_json, write_jsonl
from hrlaif.judge.qualify import exam_stage
from hrlaif.manifest import StageRecord, is_complete, read_manifest, stage
from hrlaif.prompts import load_prompts, prompt_file
from hrlaif.records import Sample
from hrlaif.runlock import RunLock

MODES = ("rlaif", "hrlaif")


def _file_hash(path: Path) -> str:
    path = Path(path)
    if path.is_dir():
        raise HrlaifError(f"{path}: is a directory, expected a JSON-lines file")
    if not path.is_file():
        raise HrlaifError(f"{path}: file not found")
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _folder_stamp(path: Path | None) -> list | None:
    """Names, sizes and mtimes of a model folder's files: a changed checkpoint re-runs its stage."""
    if path is None or not Path(path).is_dir():
        return None
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in Path(path).iterdir() if p.is_file())


def _without_memory_settings(section) -> dict:
    """A training section as its fingerprint sees it: settings that change memory use but not
    results (gradient checkpointing) are left out, so turning them on never re-runs a stage."""
    return section.model_dump(mode="json", exclude={"gradient_checkpointing"})


def _processes() -> list:
    """The process count as training fingerprints see it: nothing for one process (fingerprints of
    single-process runs stay as they were), else the count, since N processes train on N times the
    batch and a stage finished under another count is not this run's result."""
    from hrlaif.train.ranks import world_size

    return [] if world_size() == 1 else [{"processes": world_size()}]


def _judge_label(config) -> str:
    """A judge's name as its config gives it, without building the judge."""
    return f"{config.backend}:{config.model}"


def write_audit(run_dir: Path, confidence: float = 0.95) -> tuple[Path, dict]:
    """Audit the labels of every arm in `run_dir` -> RUN/audit/audit.json."""
    from hrlaif.labeling.audit import audit_run

    if not Path(run_dir).is_dir():
        raise HrlaifError(f"{run_dir}: run directory not found")
    report = audit_run(Path(run_dir), confidence)
    if not report:
        raise HrlaifError(f"{run_dir}: no labels to audit; run `hrlaif label` first")
    path = Path(run_dir) / "audit" / "audit.json"
    write_json(path, report)
    return path, report


class StageTime(NamedTuple):
    """One stage as this pipeline reached it, for the end-of-run summary."""

    name: str
    status: str  # "ran" | "skipped"
    wall_s: float = 0.0
    judge_calls: int = 0
    cost_usd: float = 0.0


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


class Pipeline:
    """Holds a run's config and its judge (loaded once, shared by the stages that need it)."""

    def __init__(self, config: RunConfig, console: Console | None = None) -> None:
        self.config = config
        self.run_dir = Path(config.run_dir)
        self.console = console or Console(stderr=True)
        self._judge = None
        self._eval_judge = None
        self.timeline: list[StageTime] = []  # each stage this pipeline reached, in order (`summary`)
        from hrlaif.train.trackers import check_installed

        check_installed(config.tracking)  # a tracker that is not installed fails now, not after hours of labeling

    # ------------------------------------------------------------------ plumbing
    def dir(self, name: str) -> Path:
        return self.run_dir / name

    def save_config(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.run_dir / "config.yaml") as tmp:
            tmp.write_text(dump_config(self.config), encoding="utf-8")

    @property
    def judge(self):
        if self._judge is None:
            from hrlaif.judge import build_judge

            self.console.print(f"[bold]judge[/]: {self.config.judge.backend} ({self.config.judge.model})")
            j = self.config.judge
            cache = (j.cache_file or self.run_dir / "judge_cache.sqlite") if j.cache else None
            self._judge = build_judge(j, seed=self.config.seed, cache_path=cache)
        return self._judge

    @property
    def eval_judge(self):
        """The judge that grades evaluation: `evaluate.judge` when set, else the labeling judge."""
        if self.config.evaluate.judge is None:
            return self.judge
        if self._eval_judge is None:
            from hrlaif.judge import build_judge, judge_cache_path

            j = self.config.evaluate.judge
            self.console.print(f"[bold]evaluation judge[/]: {j.backend} ({j.model})")
            self._eval_judge = build_judge(j, seed=self.config.seed, cache_path=judge_cache_path(j, self.run_dir))
        return self._eval_judge

    def _judge_config(self, which: str):
        return self.config.judge if which == "label" or self.config.evaluate.judge is None else self.config.evaluate.judge

    def _judge_fingerprint(self, which: str = "label") -> dict:
        j = self._judge_config(which)
        return {"backend": j.backend, "model": j.model, "simulated": j.simulated.model_dump(), "seed": j.seed}

    def _judge_usage_since(self, before: dict) -> dict:
        now = self.judge.stats.model_dump()
        return {k: round(now[k] - before.get(k, 0), 6) for k in now} | {"judge": self.judge.name}

    def _skip(self, name: str, fp: str) -> bool:
        if is_complete(self.dir(name), fp):
            self.console.print(f"[dim]{name}: already complete, skipped[/]")
            self.timeline.append(StageTime(name, "skipped"))
            return True
        self.console.print(f"[bold cyan]{name}[/]")
        return False

    def fp(self, name: str) -> str:
        manifest = read_manifest(self.dir(name))
        if not manifest or not manifest.get("complete"):
            raise HrlaifError(f"stage '{name}' has not finished in {self.run_dir}: run it first")
        return manifest["fingerprint"]

    def _run_stage(
        self, name: str, fp: str, out: Path, body: Callable[[StageRecord], None], *,
        judged: bool = False, prepare: Callable[[], None] | None = None,
    ) -> Path:
        """The one shape of every stage: skipped when complete with fingerprint `fp`; otherwise
        `prepare` (before the stage folder is claimed), then `body` inside `stage()`: it reads its
        inputs, hands over to its package, writes its outputs and sets record.counts/extra. A
        `judged` stage also records what the judge spent in it. Returns `out`."""
        if self._skip(name, fp):
            return out
        if prepare is not None:
            prepare()
        before = self.judge.stats.model_dump() if judged else {}
        started = time.monotonic()
        with stage(name, self.dir(name), fp) as record:
            body(record)
            if judged:
                record.judge = self._judge_usage_since(before)
        done = StageTime(name, "ran", time.monotonic() - started, record.judge.get("calls", 0), record.judge.get("cost_usd", 0.0))
        self.timeline.append(done)
        self.console.print(f"{name}: done in {_duration(done.wall_s)}" + (f", {done.judge_calls} judge calls" if judged else ""),
                           highlight=False)
        return out

    def summary(self, report: Path | None = None) -> None:
        """The end-of-run lines: each stage reached (ran, with its wall time, or skipped), the
        judge's calls and cost, and where the report is."""
        ran = [t for t in self.timeline if t.status == "ran"]
        self.console.print(f"[bold]summary:[/] {len(ran)} stage(s) ran in {_duration(sum(t.wall_s for t in ran))}, "
                           f"{len(self.timeline) - len(ran)} skipped (already complete)", highlight=False)
        for t in self.timeline:
            self.console.print(f"  {t.name:<24} {'skipped' if t.status == 'skipped' else _duration(t.wall_s)}", highlight=False)
        stats = self._judge.stats if self._judge is not None else None
        if stats is not None:
            self.console.print(f"  judge '{self._judge.name}': {stats.calls} calls, {stats.cache_hits} from cache, "
                               f"${stats.cost_usd:.4f}", highlight=False)
        if report is not None:
            self.console.print(f"  report: {report}", highlight=False)

    # ------------------------------------------------------------------ stages
    def judge_check(self, which: str = "label") -> Path:
        """Examine a judge on known-answer items per task (`hrlaif.judge.qualify`) ->
        RUN/judge-check[-eval]/result.json; the report marks figures resting on a task that did not
        qualify. `which`: "label" (the labeling judge) or "eval" (`evaluate.judge`)."""
        from hrlaif.judge.templates import templates_fingerprint

        c = self.config
        name = exam_stage(which)
        judge_config = self._judge_config(which)
        judge = self.judge if which == "label" else self.eval_judge  # built first: it installs its templates
        exam = _file_hash(c.judge_check.exam) if c.judge_check.exam is not None else "bundled"
        # preference is graded by the rule its verdicts are used with: labeling's, or the win ratio's (no soft labels, no margin)
        rule = {"soft_labels": c.label.soft_labels, "tie_margin": c.label.tie_margin} if which == "label" else {"soft_labels": False, "tie_margin": 0.0}
        fp = fingerprint(name, self._judge_fingerprint(which), judge_config.model_dump(include={"constrain", "extra_body", "reasoning", "permute_labels"}),
                         c.judge_check.model_dump(exclude={"enabled"}), exam, templates_fingerprint(), c.seed, rule)
        out = self.dir(name) / "result.json"

        def body(record: StageRecord) -> None:
            from hrlaif.judge.qualify import exam_table, qualify_judge

            result = qualify_judge(judge, c.judge_check, desc=f"judge exam ({which})", **rule)
            write_json(out, result)
            self.console.print(exam_table(result))
            record.counts = {"tasks": len(result["tasks"]), "qualified_tasks": sum(t["qualified"] for t in result["tasks"].values())}
            record.extra = {"qualified": result["qualified"]}

        return self._run_stage(name, fp, out, body, judged=which == "label")

    def require_qualified(self, which: str = "label") -> None:
        """With `judge.require_qualified` (of that judge's config), stop unless the exam qualified it on every task."""
        if not self._judge_config(which).require_qualified:
            return
        result = json.loads(self.judge_check(which).read_text(encoding="utf-8"))
        failed = {task: r.get("reason", "") for task, r in result["tasks"].items() if not r["qualified"]}
        if failed:
            key = "judge" if which == "label" else "evaluate.judge"
            raise HrlaifError(
                f"{key}.require_qualified: the judge '{result['judge']}' did not qualify on "
                + "; ".join(f"{task} ({why})" for task, why in failed.items())
                + f"; see {self.dir(exam_stage(which)) / 'result.json'}"
            )

    def _prompts_stamp(self, which: str) -> str:
        """The prompt source as a stage fingerprint sees it (a file's hash, as before, for our JSONL)."""
        from hrlaif.prompt_sources import source_stamp

        spec = self.config.data.train_prompts if which == "train" else self.config.data.eval_prompts
        return source_stamp(spec, prompt_file(spec), self.config.data, which)

    def sample(self) -> Path:
        c = self.config
        fp = fingerprint("sample", c.policy.fingerprint_view(), c.sample, c.data.max_train_prompts, self._prompts_stamp("train"), c.seed)
        out = self.dir("sample") / "samples.jsonl"

        def body(record: StageRecord) -> None:
            from hrlaif.sampling import sample_responses

            prompts = load_prompts(c.data.train_prompts, c.data.max_train_prompts, c.data, "train")
            samples = sample_responses(
                prompts, c.policy.path, c.sample.generation, num_samples=c.sample.num_samples, seed=c.seed,
                max_length=c.policy.max_length, policy_name="start", backend=c.policy,
            )
            write_jsonl(out, samples)
            record.counts = {"prompts": len(prompts), "samples": len(samples)}
            record.compute["generation_backend"] = c.policy.backend

        return self._run_stage("sample", fp, out, body)

    def _verdict_settings(self) -> dict:
        """Judge settings beyond backend and model that change its verdicts: the templates (by
        content, so an edited template file relabels), how an answer is asked for and read."""
        from hrlaif.judge.templates import templates_fingerprint, use_templates

        j = self.config.judge
        use_templates(j.templates_dir)  # the templates the judge will use, loaded before it is built
        return {"templates": templates_fingerprint(), "templates_dir": j.templates_dir, "constrain": j.constrain,
                "option_token_ids": j.option_token_ids, "extra_body": j.extra_body, "reasoning": j.reasoning,
                "reasoning_max_tokens": j.reasoning_max_tokens, "max_tokens": j.max_tokens, "permute_labels": j.permute_labels}

    def label(self, mode: str) -> Path:
        self.require_qualified("label")
        c = self.config
        name = f"label-{mode}"
        fp = fingerprint(name, self.fp("sample"), self._judge_fingerprint(), self._verdict_settings(),
                         c.label.model_dump(exclude={"mode"}))
        out = self.dir(name) / "pairs.jsonl"

        def body(record: StageRecord) -> None:
            samples = read_jsonl(self.dir("sample") / "samples.jsonl", Sample)
            if mode == "rlaif":
                from hrlaif.labeling.rlaif import label_rlaif

                pairs, record.counts = label_rlaif(samples, self.judge, soft_labels=c.label.soft_labels,
                                                     tie_margin=c.label.tie_margin)
            else:
                from hrlaif.labeling.hybrid import label_hybrid

                pairs, record.counts = label_hybrid(samples, self.judge, c.label)
            write_jsonl(out, pairs)

        return self._run_stage(name, fp, out, body, judged=True)

    def redteam(self, show_text: bool = False) -> Path:
        """AI red teaming -> RUN/redteam/{attacks,answers,pairs}.jsonl and summary.json."""
        c = self.config
        inputs = [_file_hash(bundled_path(n)) for n in ("redteam_seeds", "attacks_train", "attacks_eval")]
        # max_share is applied when the RM data is put together, so changing it re-trains the RM only.
        fp = fingerprint("redteam", c.policy.fingerprint_view(), c.redteam.model_dump(exclude={"enabled", "max_share"}), self._judge_fingerprint(),
                         c.evaluate.confidence, inputs, c.seed)
        out = self.dir("redteam") / "pairs.jsonl"
        if not c.redteam.enabled:
            self.console.print("[yellow]redteam.enabled is false: its pairs will not be used for the RM[/]")

        def body(record: StageRecord) -> None:
            from hrlaif.labeling.redteam import run_redteam

            summary = run_redteam(c.redteam, self.judge, self.dir("redteam"), self.console, policy=c.policy, seed=c.seed,
                                  confidence=c.evaluate.confidence, show_text=show_text)
            record.counts = {"attacks": summary["attacks"]["used"], "answers": summary["answers"], **summary["labels"],
                             "rewrites_kept": summary["rewrites"]["kept"], "rewrites_dropped": summary["rewrites"]["dropped"],
                             "pairs": summary["pairs"]}
            record.extra = {"fallback": summary["attacks"]["fallback"]}
            record.compute["generation_backend"] = c.policy.backend

        return self._run_stage("redteam", fp, out, body, judged=True)

    def _uses_redteam(self, mode: str) -> bool:
        return mode == "hrlaif" and self.config.redteam.enabled

    def rm_fingerprint(self, mode: str) -> str:
        """The labels, plus for hrlaif the red-team stage and its share cap when red teaming is on."""
        c = self.config
        return fingerprint(f"rm-{mode}", *self._pairs_upstream(mode), c.policy.fingerprint_view(generation=False), _without_memory_settings(c.reward), c.seed, *_processes())

    def _pairs_upstream(self, mode: str) -> list:
        """What an arm's pairs (RM or DPO data) depend on: its labels, and red teaming where used."""
        c = self.config
        upstream: list = [self.fp(f"label-{mode}")]
        if self._uses_redteam(mode):
            if not (read_manifest(self.dir("redteam")) or {}).get("complete"):
                raise HrlaifError(f"stage 'redteam' has not finished in {self.run_dir}: run `hrlaif redteam` first, "
                                  "or set redteam.enabled=false")
            upstream.append({"redteam": self.fp("redteam"), "max_share": c.redteam.max_share})
        return upstream

    def train_rm(self, mode: str) -> Path:
        c = self.config
        name = f"rm-{mode}"
        out = self.dir(name) / "model"

        def body(record: StageRecord) -> None:
            from hrlaif.labeling.rm_data import rm_pairs
            from hrlaif.serving import release_engines

            release_engines()  # a vLLM engine of an earlier stage holds GPU memory training needs
            from hrlaif.train.reward import train_reward_model
            from hrlaif.train.trackers import run_name as tracker_run_name

            redteam = self.dir("redteam") / "pairs.jsonl" if self._uses_redteam(mode) else None
            pairs, counts = rm_pairs(self.dir(f"label-{mode}") / "pairs.jsonl", redteam, c.redteam.max_share)
            summary = train_reward_model(pairs, c.policy.path, c.reward, self.dir(name), seed=c.seed, max_length=c.policy.max_length,
                                         tracking=c.tracking, run_name=tracker_run_name(c.tracking, c.run_dir, name))
            write_json(self.dir(name) / "summary.json", summary)
            record.counts = {"train_pairs": summary["train_pairs"], "heldout_pairs": summary["heldout_pairs"], **counts}
            record.extra = {"heldout_accuracy": summary["heldout_accuracy"]}

        return self._run_stage(name, self.rm_fingerprint(mode), out, body)

    def dpo(self, mode: str) -> Path:
        """DPO on the arm's RM pairs (TRL's DPOTrainer) -> RUN/dpo-MODE/policy: the arm 'dpo-MODE'."""
        c = self.config
        name = f"dpo-{mode}"
        fp = fingerprint(name, *self._pairs_upstream(mode), c.policy.fingerprint_view(generation=False), c.dpo, c.seed)
        out = self.dir(name) / "policy"

        def body(record: StageRecord) -> None:
            from hrlaif.labeling.rm_data import rm_pairs
            from hrlaif.serving import release_engines
            from hrlaif.train.dpo import train_dpo

            release_engines()  # as for the RM and PPO: a vLLM engine of an earlier stage holds GPU memory training needs
            redteam = self.dir("redteam") / "pairs.jsonl" if self._uses_redteam(mode) else None
            pairs, counts = rm_pairs(self.dir(f"label-{mode}") / "pairs.jsonl", redteam, c.redteam.max_share)
            summary = train_dpo(pairs, c.policy.path, c.dpo, self.dir(name), seed=c.seed, max_length=c.policy.max_length)
            write_json(self.dir(name) / "summary.json", summary)
            record.counts = {"steps": summary["steps"], **counts}
            record.extra = {"summary": summary}

        return self._run_stage(name, fp, out, body)

    def arms(self, modes: list[str]) -> dict[str, str]:
        """Arm name -> the stage holding its policy, per compare.algorithms: PPO arms keep the
        mode's name ('hrlaif'), DPO arms are 'dpo-MODE'."""
        algorithms = self.config.compare.algorithms
        return {arm: stage for m in modes for arm, stage in ((m, f"ppo-{m}"), (f"dpo-{m}", f"dpo-{m}"))
                if stage.split("-")[0] in algorithms}

    def ppo(self, mode: str) -> Path:
        c = self.config
        name = f"ppo-{mode}"
        fp = fingerprint(name, self.fp(f"rm-{mode}"), c.policy.fingerprint_view(generation=False), _without_memory_settings(c.ppo), c.data.max_train_prompts, self._prompts_stamp("train"), c.seed, *_processes())
        out = self.dir(name) / "policy"

        def keep_or_discard_checkpoints() -> None:
            # Checkpoints may be resumed by a run that only asks for more steps (or checkpoints
            # more often); any other change makes them someone else's and they are discarded.
            resumable = fingerprint(name, self.fp(f"rm-{mode}"), c.policy.fingerprint_view(generation=False), c.ppo.model_dump(exclude={"steps", "checkpoint_every", "gradient_checkpointing"}),
                                    c.data.max_train_prompts, self._prompts_stamp("train"), c.seed)
            marker = self.dir(name) / "checkpoint-fingerprint"
            if marker.is_file() and marker.read_text().strip() != resumable:
                import shutil

                self.console.print(f"[yellow]{name}: config changed, discarding old checkpoints[/]")
                shutil.rmtree(self.dir(name))
            self.dir(name).mkdir(parents=True, exist_ok=True)
            marker.write_text(resumable)

        def body(record: StageRecord) -> None:
            from hrlaif.serving import release_engines
            from hrlaif.train.ppo import train_ppo

            release_engines()
            from hrlaif.train.trackers import run_name as tracker_run_name

            prompts = load_prompts(c.data.train_prompts, c.data.max_train_prompts, c.data, "train")
            summary = train_ppo(
                c.ppo, policy_path=c.policy.path, reward_model_path=str(self.dir(f"rm-{mode}") / "model"),
                prompts=prompts, out_dir=self.dir(name), seed=c.seed, max_length=c.policy.max_length,
                tracking=c.tracking, run_name=tracker_run_name(c.tracking, c.run_dir, name),
            )
            record.counts = {"steps": summary.get("steps")}
            record.extra = {"summary": summary}

        return self._run_stage(name, fp, out, body, prepare=keep_or_discard_checkpoints)

    def evaluate(self, modes: list[str]) -> Path:
        self.require_qualified("eval")
        c = self.config
        safety_inputs = [_file_hash(bundled_path(n)) for n in ("attacks_eval", "toxicity_prompts")] + [_folder_stamp(c.evaluate.toxicity_classifier)]
        fp = fingerprint("eval", c.policy.fingerprint_view(), c.evaluate, c.data.eval_prompts, c.data.max_eval_prompts, self._prompts_stamp("eval"),
                         self._judge_fingerprint("eval"), [self.fp(stage) for stage in self.arms(modes).values()], c.seed, safety_inputs)
        out = self.dir("eval") / "results.json"

        def body(record: StageRecord) -> None:
            from hrlaif.evaluate.arms import evaluate_arms

            prompts = load_prompts(c.data.eval_prompts, c.data.max_eval_prompts, c.data, "eval")
            policies = {"start": c.policy.path} | {arm: str(self.dir(stage) / "policy") for arm, stage in self.arms(modes).items()}
            # A server serves the start policy only; vLLM in-process loads any arm's folder.
            backends = {name: c.policy for name in policies if name == "start" or c.policy.backend == "vllm"}
            results = evaluate_arms(policies, prompts, self.eval_judge, c.evaluate, self.dir("eval"), seed=c.seed,
                                    max_length=c.policy.max_length, backends=backends)
            record.compute["generation_backend"] = {name: backends[name].backend if name in backends else "transformers" for name in policies}
            results["grading"] = {
                "judge": self.eval_judge.name,
                "labeling_judge": self.judge.name if c.evaluate.judge is None else _judge_label(c.judge),
                "separate_judge": c.evaluate.judge is not None,
                # A separate judge that is the same model as the labeler shares its biases: not independent.
                "same_model_as_labeling_judge": c.evaluate.judge is None or _judge_label(c.evaluate.judge) == _judge_label(c.judge),
                "independent_of_labels": c.evaluate.judge is not None and _judge_label(c.evaluate.judge) != _judge_label(c.judge),
                "note": "keyed prompts are graded by the verifier against their references in every case; the hrlaif arm's "
                        "labels used the same verifier",
            }
            write_json(out, results)
            record.counts = {"eval_prompts": len(prompts), "policies": len(policies), "attack_prompts": results["attack_prompts"]}

        return self._run_stage("eval", fp, out, body, judged=c.evaluate.judge is None)

    def audit(self) -> Path:
        self.console.print("[bold cyan]audit[/]")
        return write_audit(self.run_dir, self.config.evaluate.confidence)[0]

    def report(self) -> Path:
        from hrlaif.report import write_report

        self.console.print("[bold cyan]report[/]")
        return write_report(self.run_dir)

    def run(self, modes: list[str]) -> Path:
        """Every stage for every arm (red teaming before the hrlaif RM), then evaluation of all
        arms against the start policy."""
        for mode in modes:
            if mode not in MODES:
                raise HrlaifError(f"unknown labeling mode '{mode}' (known: {', '.join(MODES)})")
        self.save_config()
        if self.config.judge_check.enabled:
            self.judge_check("label")
        self.require_qualified("label")
        self.sample()
        for mode in modes:
            self.label(mode)
            if self._uses_redteam(mode):
                self.redteam()
            if "ppo" in self.config.compare.algorithms:
                self.train_rm(mode)
                self.ppo(mode)
            if "dpo" in self.config.compare.algorithms:
                self.dpo(mode)
        self.audit()
        if self.config.judge_check.enabled and self.config.evaluate.judge is not None:
            self.judge_check("eval")
        self.evaluate(modes)
        report = self.report()
        self.summary(report)
        return report


def compare_over_seeds(config: RunConfig, seeds: int, console: Console | None = None) -> Path:
    """`compare` trained `seeds` times (seeds config.seed.., RUN/seed-S each, one shared judge
    cache so a judge is examined and asked once), then RUN/seeds.json with the spread of the
    headline figures across seeds, and RUN/report/ with it. Returns the report's path."""
    from hrlaif.evaluate.seeds import seed_spread
    from hrlaif.report import write_report

    root = Path(config.run_dir)
    judge = config.judge if config.judge.cache_file is not None else config.judge.model_copy(update={"cache_file": root / "judge_cache.sqlite"})
    run_dirs = {}
    for k in range(seeds):
        seed = config.seed + k
        sub = config.model_copy(update={"seed": seed, "run_dir": root / f"seed-{seed}", "judge": judge})
        (console or Console(stderr=True)).print(f"[bold magenta]seed {seed}[/] ({k + 1} of {seeds}) -> {sub.run_dir}")
        pipeline = Pipeline(sub, console)
        pipeline.save_config()
        pipeline.run(list(MODES))
        run_dirs[seed] = Path(sub.run_dir)
    write_json(root / "seeds.json", seed_spread(run_dirs))
    return write_report(root)



def run_study(config: RunConfig, console: Console | None = None) -> Path:
    """`hrlaif study`: the whole comparison once per labeler in `study.labelers` (RUN/NAME each,
    every other setting equal, graded by the same `evaluate.judge`), then RUN/study.json and
    RUN/report/ putting the labelers side by side. The labelers share the start policy's samples
    (copied: sampling does not depend on the judge) and one judge cache file, so a judge that
    several use, such as the grading judge, is examined and asked once. Returns the report's path."""
    from hrlaif.evaluate.study import study_summary
    from hrlaif.report import write_report

    console = console or Console(stderr=True)
    root = Path(config.run_dir)
    cache = root / "judge_cache.sqlite"
    names = list(config.study.labelers) or [config.judge.backend]
    evaluate = config.evaluate
    if evaluate.judge is not None and evaluate.judge.cache_file is None:
        evaluate = evaluate.model_copy(update={"judge": evaluate.judge.model_copy(update={"cache_file": cache})})
    subs: dict[str, RunConfig] = {}
    for name in names:
        judge = config.labeler_judge(name) if config.study.labelers else config.judge
        if judge.cache_file is None:
            judge = judge.model_copy(update={"cache_file": cache})
        subs[name] = config.model_copy(update={"run_dir": root / name, "judge": judge, "evaluate": evaluate})
    jobs = min(config.study.jobs, len(subs))
    if jobs > 1:
        _run_labelers_in_processes(subs, jobs, console)
    else:
        first: Path | None = None
        for k, (name, sub) in enumerate(subs.items()):
            console.print(f"[bold magenta]labeler {name}[/] ({k + 1} of {len(subs)}: {_judge_label(sub.judge)}) -> {sub.run_dir}")
            # Each labeler's folder is a run directory of its own: a `compare` started on it by hand
            # while the study runs (or a second study) is refused, as on any run directory.
            with RunLock.acquire(sub.run_dir):
                _run_labeler(sub, first, console)
            first = first or Path(sub.run_dir)
    write_json(root / "study.json", study_summary({name: Path(sub.run_dir) for name, sub in subs.items()}, config.evaluate.confidence))
    return write_report(root)


def _run_labelers_in_processes(subs: dict[str, RunConfig], jobs: int, console: Console) -> None:
    """`study.jobs` > 1: sample once here, then each labeler in a spawned process of its own
    (torch shares one thread pool per process, so processes, not threads, run models side by side),
    its output in RUN/NAME/study.log; the console gets each labeler's stage as it starts. Labelers
    are independent: one failing lets the others finish, then the study stops naming it."""
    import multiprocessing
    import os
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    names = list(subs)
    first = Path(subs[names[0]].run_dir)
    with RunLock.acquire(first):
        console.print(f"[bold magenta]sampling once for {len(subs)} labelers[/] -> {first}")
        pipeline = Pipeline(subs[names[0]], console)
        pipeline.save_config()
        pipeline.sample()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1  # no affinity call on macOS
    threads = None if os.environ.get("OMP_NUM_THREADS") else max(1, cores // jobs)
    console.print(f"[bold magenta]{len(subs)} labelers, {jobs} at a time[/]" + (f", {threads} torch thread(s) each" if threads else ""))
    failures: dict[str, str] = {}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        running = {}
        for name, sub in subs.items():
            log = Path(sub.run_dir) / "study.log"
            running[pool.submit(_labeler_process, sub, None if Path(sub.run_dir) == first else first, log, threads)] = (name, log)
            console.print(f"labeler [bold]{name}[/] ({_judge_label(sub.judge)}): output in {log}")
        shown: dict[str, str | None] = {}
        while running:
            done, _ = wait(running, timeout=15, return_when=FIRST_COMPLETED)
            for name, sub in subs.items():
                current = _running_stage(Path(sub.run_dir))
                if current and shown.get(name) != current:
                    console.print(f"labeler [bold]{name}[/]: {current}")
                shown[name] = current or shown.get(name)
            for future in done:
                name, log = running.pop(future)
                try:
                    console.print(f"labeler [bold]{name}[/]: done in {future.result() / 60:.1f} min")
                except Exception as exc:  # noqa: BLE001 - reported per labeler, raised below
                    failures[name] = f"{name} ({exc}; output in {log})"
                    console.print(f"[red]labeler {name} failed:[/] {exc} (output in {log})", highlight=False)
    if failures:
        raise HrlaifError(f"study: {len(failures)} of {len(subs)} labelers failed: " + "; ".join(failures.values()))


def _running_stage(run_dir: Path) -> str | None:
    """The stage a labeler's process is in: its most recently started, unfinished manifest."""
    started = [(m.get("started_at", ""), d.name) for d in run_dir.glob("*/") if (m := read_manifest(d)) and not m.get("complete")]
    return max(started)[1] if started else None


def _labeler_process(sub: RunConfig, first: Path | None, log: Path, threads: int | None) -> float:
    """A spawned process's whole work: one labeler, every line of output in `log`. Returns seconds."""
    import os
    import sys
    import time

    started = time.perf_counter()
    log.parent.mkdir(parents=True, exist_ok=True)
    out = log.open("a", buffering=1, encoding="utf-8")
    for fd in (1, 2):  # progress bars and library warnings write to the descriptors, not to sys.stderr's object
        os.dup2(out.fileno(), fd)
    if threads:
        os.environ.update({"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)})
        import torch

        torch.set_num_threads(threads)
    import transformers

    transformers.logging.set_verbosity_error()
    console = Console(file=sys.stderr, width=120)
    with RunLock.acquire(sub.run_dir, command=f"hrlaif study (labeler {Path(sub.run_dir).name}, PID {os.getpid()})"):
        _run_labeler(sub, first, console)
    return time.perf_counter() - started


def _run_labeler(sub: RunConfig, first: Path | None, console: Console) -> None:
    """One labeler of a study: the whole comparison in sub.run_dir, sampling copied from `first`."""
    import shutil

    pipeline = Pipeline(sub, console)
    pipeline.save_config()
    if first is not None and not (sub.run_dir / "sample").exists() and (read_manifest(first / "sample") or {}).get("complete"):
        # Same policy, prompts, settings and seed: the same samples. Copied whole (manifest
        # included), then renamed, so a kill mid-copy leaves no half folder.
        tmp = sub.run_dir / ".sample.copy"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(first / "sample", tmp)
        tmp.rename(sub.run_dir / "sample")
    pipeline.run(list(MODES))
