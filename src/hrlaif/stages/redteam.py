"""redteam: AI red teaming for the hrlaif arm (needs only the start policy and the judge) ->
RUN/redteam/{attacks,answers,pairs}.jsonl and summary.json; its pairs join the arm's RM data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hrlaif.config import fingerprint
from hrlaif.data import bundled_path
from hrlaif.judge.role import LABEL
from hrlaif.manifest import StageRecord
from hrlaif.stages.base import Stage, StageContext, Upstream, file_hash


@dataclass(frozen=True)
class Redteam(Stage):
    name: str = "redteam"
    show_text: bool = field(default=False, compare=False)  # print the harmful text too (`--show-text`)

    def judged(self, ctx: StageContext) -> bool:
        return True

    def fingerprint(self, ctx: StageContext, upstream: Upstream) -> str:
        c = ctx.config
        inputs = [file_hash(bundled_path(n)) for n in ("redteam_seeds", "attacks_train", "attacks_eval")]
        # enabled decides whether the RM uses the pairs, max_share how many of them: both are
        # applied when the RM data is put together, so changing them re-trains the RM only.
        return fingerprint("redteam", c.policy.fingerprint_view(), c.redteam.model_dump(exclude={"enabled", "max_share"}), LABEL.fingerprint_view(c),
                           c.evaluate.confidence, inputs, c.seed)

    def before(self, ctx: StageContext) -> None:
        if not ctx.config.redteam.enabled:
            ctx.console.print("[yellow]redteam.enabled is false: its pairs will not be used for the RM[/]")

    def output(self, ctx: StageContext) -> Path:
        return ctx.run_dir.redteam_pairs

    def body(self, ctx: StageContext, record: StageRecord) -> None:
        from hrlaif.labeling.redteam import run_redteam  # torch: loaded when the stage runs

        c = ctx.config
        summary = run_redteam(c.redteam, ctx.judge(LABEL), ctx.run_dir.redteam, ctx.console, policy=c.policy, seed=c.seed,
                              confidence=c.evaluate.confidence, show_text=self.show_text)
        record.counts = {"attacks": summary["attacks"]["used"], "answers": summary["answers"], **summary["labels"],
                         "rewrites_kept": summary["rewrites"]["kept"], "rewrites_dropped": summary["rewrites"]["dropped"],
                         "pairs": summary["pairs"]}
        record.extra = {"fallback": summary["attacks"]["fallback"]}
        record.compute["generation_backend"] = c.policy.backend
