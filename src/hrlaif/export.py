"""`hrlaif export`: a run's preference pairs in the shapes other trainers read as they are.

The pairs exported are the ones the run's reward model trained on: RUN/label-MODE/pairs.jsonl,
plus, for the hrlaif arm when red teaming fed its RM, the same capped red-team pairs (rm_data).
Shapes:
- trl: `prompt` / `chosen` / `rejected` in TRL's conversational form with an explicit prompt,
  read by RewardTrainer and DPOTrainer alike;
- openrlhf: `chosen` / `rejected` as whole conversations (prompt turns + the answer), read with
  `--apply_chat_template --chosen_key chosen --rejected_key rejected` (no --prompt_key);
- jsonl: our own records, provenance included.
Layout, as `datasets` reads folders: OUT/MODE/train.jsonl and OUT/MODE/test.jsonl, test being the
pairs the arm's RM held out (split as `hrlaif train-rm` splits them: `rm_data.rm_split`, with
the run's reward.eval_fraction and seed), so `load_dataset("OUT/MODE")` (or `load_dataset("json",
data_dir="OUT/MODE")`) gives the RM's train and test splits and its held-out accuracy can be
reproduced elsewhere. OUT/README.md names each arm as a `datasets` config (`load_dataset("OUT",
"hrlaif")`; without a name `datasets` asks for one instead of mixing the arms), and carries the
content warning; CONTENT_WARNING.txt sits beside the arm folders, outside the data, when
red-team pairs are exported.
`hrlaif export-prompts` (export_prompts) writes a run's prompt source, read through its preset,
as a prompt dataset for GRPO (TRL, with hrlaif.reward.HybridReward) or OpenRLHF (with
`hrlaif reward-server`): each row's prompt and its key (category, reference, choices).
Our judge confidence is never named `margin`: TRL's RewardTrainer (and OpenRLHF's DPO) would
take a `margin` column into the loss, training something other than our RM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml

from hrlaif.config import RunConfig, SafeYamlLoader
from hrlaif.errors import HrlaifError
from hrlaif.jsonl import atomic_path, write_jsonl
from hrlaif.labeling.redteam import WARNING_FILE, WARNING_TEXT
from hrlaif.labeling.rm_data import read_rm_summary, recorded_split, rm_pairs
from hrlaif.manifest import read_manifest, require_complete
from hrlaif.records import Pair, Prompt, RedteamPair
from hrlaif.run_dir import ALL_MODES, RunDir

ExportFormat = Literal["trl", "openrlhf", "jsonl"]
FORMATS: tuple[str, ...] = ("trl", "openrlhf", "jsonl")


def _run_config(run_dir: Path) -> RunConfig:
    path = RunDir(run_dir).config
    if not path.is_file():
        return RunConfig()
    try:
        # SafeYamlLoader: --run-dir may be any folder, so no alias bomb or cyclic alias either
        return RunConfig.model_validate(yaml.load(path.read_text(encoding="utf-8"), Loader=SafeYamlLoader) or {})  # noqa: S506 - a SafeLoader
    except Exception as exc:  # a config the run wrote itself; if it no longer reads, say so plainly
        raise HrlaifError(f"{path}: cannot read the run's config ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None


def redteam_used(run_dir: Path, mode: str) -> bool:
    """Whether the arm's RM trained (or, not trained yet, would train) on red-team pairs."""
    if mode != "hrlaif":
        return False
    run = RunDir(run_dir)
    rm = read_manifest(run.stage(run.rm_stage(mode)))
    if rm and rm.get("complete"):
        return "redteam_pairs" in (rm.get("counts") or {})
    return _run_config(run_dir).redteam.enabled and bool((read_manifest(run.redteam) or {}).get("complete"))


def export_pairs_of(run_dir: Path, mode: str) -> tuple[list[Pair], dict]:
    """(pairs, counts) of one arm, as its reward model saw them."""
    run = RunDir(run_dir)
    labels = run.labels(mode)
    if not labels.is_file():
        raise HrlaifError(f"{labels}: not found; run `hrlaif label --mode {mode}` first")
    require_complete(run.stage(run.label_stage(mode)), f"hrlaif label --mode {mode}")  # else a killed re-label ships the old labels
    redteam = run.redteam_pairs if redteam_used(run_dir, mode) else None
    if redteam is not None:
        require_complete(run.redteam, "hrlaif redteam")
    pairs, counts = rm_pairs(labels, redteam, _run_config(run_dir).redteam.max_share if redteam else 0.0)
    stages = [run.stage(run.label_stage(mode)), *([run.redteam] if redteam is not None else [])]
    return pairs, {**counts, "read": "; ".join(read_from(stage) for stage in stages)}


def read_from(stage_dir: Path) -> str:
    """What a reader takes from a complete stage, said plainly: its name, when it ran, its fingerprint."""
    manifest = read_manifest(stage_dir) or {}
    started = str(manifest.get("started_at") or "?")[:19].replace("T", " ")
    return f"{Path(stage_dir).name} (complete, run {started} UTC, fingerprint {manifest.get('fingerprint', '?')})"


def _metadata(pair: Pair) -> dict:
    row = {
        "prompt_id": pair.prompt_id,
        "category": pair.category,
        "chosen_prob": pair.chosen_prob,  # the labeler's P(chosen beats rejected); not a loss margin
        "confidence": pair.confidence,
        "label_mode": pair.provenance.mode,
        "label_route": pair.provenance.route,
        "label_step": pair.provenance.step,
    }
    if isinstance(pair, RedteamPair):
        row["content_warning"] = pair.content_warning
    return row


def to_row(pair: Pair, fmt: str) -> dict:
    """One pair in the shape `fmt` names."""
    prompt = [m.model_dump() for m in pair.prompt]
    chosen, rejected = [m.model_dump() for m in pair.chosen], [m.model_dump() for m in pair.rejected]
    if fmt == "trl":
        return {"prompt": prompt, "chosen": chosen, "rejected": rejected, **_metadata(pair)}
    if fmt == "openrlhf":
        return {"chosen": prompt + chosen, "rejected": prompt + rejected, **_metadata(pair)}
    if fmt == "jsonl":
        return pair.model_dump(mode="json")
    raise HrlaifError(f"--format: unknown format '{fmt}' (known: {', '.join(FORMATS)})")


SPLITS: tuple[str, ...] = ("train", "test")


def _dataset_card(out_dir: Path) -> str:
    """OUT/README.md: every arm folder as a `datasets` config, and the content warning where due."""
    arms = [m for m in ALL_MODES if (out_dir / m / "train.jsonl").is_file()]
    configs = [{"config_name": m, "data_files": [{"split": split, "path": f"{m}/{split}.jsonl"} for split in SPLITS
                                                 if (out_dir / m / f"{split}.jsonl").is_file()]} for m in arms]
    card = "---\n" + yaml.safe_dump({"configs": configs}, sort_keys=False) + "---\n\n"
    card += ("# hrlaif preference pairs\n\nEach folder is one labeling arm's reward-model pairs: train.jsonl what its RM trained on, "
             "test.jsonl the pairs it held out (whole prompts) to report its accuracy. Load one arm: "
             "`datasets.load_dataset(\"OUT/hrlaif\")` or `datasets.load_dataset(\"OUT\", \"hrlaif\")`.\n")
    if (out_dir / WARNING_FILE).is_file():
        card += "\n" + WARNING_TEXT.replace("CONTENT WARNING\n", "## CONTENT WARNING\n", 1).replace("in this folder", "in these folders")
    return card


def export_run(run_dir: Path, fmt: str, out_dir: Path | None = None, modes: list[str] | None = None) -> dict[str, dict]:
    """Write OUT/MODE/train.jsonl and OUT/MODE/test.jsonl for each arm (default: every labeled
    one), and OUT/README.md; {mode: counts + train_pairs, test_pairs, folder}."""
    run_dir = Path(run_dir)
    run = RunDir(run_dir)
    if fmt not in FORMATS:
        raise HrlaifError(f"--format: unknown format '{fmt}' (known: {', '.join(FORMATS)})")
    if not run_dir.is_dir():
        raise HrlaifError(f"{run_dir}: run directory not found")
    for mode in modes or []:
        if mode not in ALL_MODES:
            raise HrlaifError(f"--mode: unknown labeling mode '{mode}' (known: {', '.join(ALL_MODES)})")
    modes = modes or [m for m in ALL_MODES if run.labels(m).is_file()]
    if not modes:
        raise HrlaifError(f"{run_dir}: no labeled pairs (label-rlaif/ or label-hrlaif/ pairs.jsonl); run `hrlaif label` first")
    out_dir = Path(out_dir) if out_dir is not None else run.export(fmt)
    config = _run_config(run_dir)
    exported: dict[str, dict] = {}
    batches = {mode: export_pairs_of(run_dir, mode) for mode in modes}  # read everything before writing anything
    for mode, (pairs, counts) in batches.items():
        # The pairs the arm's RM held out, as its summary records them (an RM trained before the
        # record: the old shuffle), so TRL reproduces its held-out accuracy; no RM yet: the rule.
        train, held, _ = recorded_split(pairs, read_rm_summary(run.reward_summary(mode)), config.reward.eval_fraction, config.seed)
        folder = out_dir / mode
        write_jsonl(folder / "train.jsonl", (to_row(p, fmt) for p in train))
        if held:
            write_jsonl(folder / "test.jsonl", (to_row(p, fmt) for p in held))
        else:  # nothing held out (reward.eval_fraction 0): no test split, not a stale one
            (folder / "test.jsonl").unlink(missing_ok=True)
        exported[mode] = {**counts, "train_pairs": len(train), "test_pairs": len(held), "folder": str(folder)}
    if any(counts.get("redteam_pairs") for _, counts in batches.values()):
        with atomic_path(out_dir / WARNING_FILE) as tmp:  # red-team rows hold harmful text by design
            tmp.write_text(WARNING_TEXT, encoding="utf-8")
    with atomic_path(out_dir / "README.md") as tmp:
        tmp.write_text(_dataset_card(out_dir), encoding="utf-8")
    return exported


PROMPT_FORMATS: tuple[str, ...] = ("trl", "openrlhf")
PROMPT_SPLITS = {"train": "train", "eval": "test"}  # which prompts -> the file `datasets` reads as that split


def prompt_row(prompt: Prompt, fmt: str) -> dict:
    """One prompt for RL with hrlaif's reward: trl, a conversational `prompt` beside the columns
    HybridReward reads (category, reference, choices); openrlhf, the same `prompt` (read with
    --input_key prompt --apply_chat_template) and those three as one `label` object (--label_key
    label), which `hrlaif reward-server` reads."""
    key = {"category": prompt.category, "reference": prompt.reference, "choices": prompt.choices}
    messages = [m.model_dump() for m in prompt.messages]
    if fmt == "trl":
        return {"id": prompt.id, "prompt": messages, **key}
    if fmt == "openrlhf":
        return {"id": prompt.id, "prompt": messages, "label": key}
    raise HrlaifError(f"--format: unknown format '{fmt}' (known: {', '.join(PROMPT_FORMATS)})")


def export_prompts(config: RunConfig, fmt: str, out_dir: Path, which: str = "train") -> tuple[Path, dict[str, int]]:
    """Write OUT/train.jsonl (data.train_prompts) or OUT/test.jsonl (which 'eval': data.eval_prompts),
    read as a run reads them (data.format, data.columns, the max_*_prompts cap); (file, count per category)."""
    from hrlaif.prompts import load_prompts

    if fmt not in PROMPT_FORMATS:
        raise HrlaifError(f"--format: unknown format '{fmt}' (known: {', '.join(PROMPT_FORMATS)})")
    if which not in PROMPT_SPLITS:
        raise HrlaifError(f"--split: unknown split '{which}' (known: {', '.join(PROMPT_SPLITS)})")
    d = config.data
    spec, limit = (d.train_prompts, d.max_train_prompts) if which == "train" else (d.eval_prompts, d.max_eval_prompts)
    prompts = load_prompts(spec, limit, d, which)  # type: ignore[arg-type]
    path = Path(out_dir) / f"{PROMPT_SPLITS[which]}.jsonl"
    write_jsonl(path, (prompt_row(p, fmt) for p in prompts))
    counts: dict[str, int] = {}
    for p in prompts:
        counts[p.category] = counts.get(p.category, 0) + 1
    return path, counts
