"""PPO's plumbing that is not the algorithm: which prompts a step takes, resumable checkpoints,
metrics.jsonl, and the final policy folder. Kept apart so train/ppo.py reads top to bottom as
the algorithm (the way CleanRL's ppo.py does)."""

from __future__ import annotations

import errno
import json
import logging
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hrlaif.errors import HrlaifError
from hrlaif.file_modes import follow_umask
from hrlaif.jsonl import atomic_path, write_json

log = logging.getLogger(__name__)


def prompt_indices(n_prompts: int, seed: int, start: int, count: int) -> list[int]:
    """Positions start..start+count-1 of an endless cycle over the prompts, reshuffled (seeded) each lap."""
    out = []
    for position in range(start, start + count):
        lap, offset = divmod(position, n_prompts)
        out.append(int(np.random.default_rng([seed, lap]).permutation(n_prompts)[offset]))
    return out


CHECKPOINT_PREFIX = "step-"


def latest_checkpoint(root: Path, max_step: int) -> Path | None:
    """The newest complete checkpoint (temp folders never are); it must not be past `max_step`."""
    if not root.is_dir():
        return None
    found = []
    for path in root.iterdir():
        name = path.name
        if name.startswith(CHECKPOINT_PREFIX) and name[len(CHECKPOINT_PREFIX) :].isdigit():
            if (path / "trainer_state.json").is_file():
                found.append((int(name[len(CHECKPOINT_PREFIX) :]), path))
    if not found:
        return None
    step, path = max(found)
    if step > max_step:
        raise HrlaifError(f"{path}: this run is already at step {step}, past ppo.steps={max_step}; raise ppo.steps or use a fresh output folder")
    return path


def _trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    # named_parameters lists a tied weight once; with LoRA only the adapters are trainable.
    return {name: p.detach().cpu().contiguous() for name, p in model.named_parameters() if p.requires_grad}


def _load_trainable_state(model: nn.Module, path: Path) -> None:
    from safetensors.torch import load_file

    state = load_file(str(path))
    missing = {name for name, p in model.named_parameters() if p.requires_grad} - set(state)
    result = model.load_state_dict(state, strict=False)
    if result.unexpected_keys or missing:
        raise HrlaifError(f"{path}: checkpoint does not match the model (missing {sorted(missing)[:3]}, unexpected {result.unexpected_keys[:3]})")


def _rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(accelerator, root: Path, step: int, cursor: int, policy, critic, policy_opt, critic_opt) -> Path:
    """Write into a temp folder, then rename: a folder named step-NNNNN is always complete."""
    from safetensors.torch import save_file

    final = root / f"{CHECKPOINT_PREFIX}{step:05d}"
    tmp = root / f".tmp-{CHECKPOINT_PREFIX}{step:05d}"
    try:
        if accelerator.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            save_file(_trainable_state(accelerator.unwrap_model(policy)), str(tmp / "policy.safetensors"))
            save_file(_trainable_state(accelerator.unwrap_model(critic)), str(tmp / "critic.safetensors"))
            torch.save(policy_opt.state_dict(), tmp / "policy_optimizer.pt")
            torch.save(critic_opt.state_dict(), tmp / "critic_optimizer.pt")
        torch.save(_rng_state(), tmp / f"rng-{accelerator.process_index}.pt")  # each process has its own
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            write_json(tmp / "trainer_state.json", {"step": step, "prompt_cursor": cursor, "num_processes": accelerator.num_processes})
            follow_umask(tmp)  # safetensors writes 0600
    except (OSError, RuntimeError, HrlaifError) as exc:
        full = _disk_full(exc, root)
        shutil.rmtree(tmp, ignore_errors=True)  # never leave a half-written checkpoint behind
        if full:
            raise HrlaifError(f"disk full while writing checkpoint {final}; the partial checkpoint was removed, earlier ones are kept") from None
        raise
    if accelerator.is_main_process:
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in root.iterdir():  # keep the newest only: each one holds policy, critic and 2 optimizers
            if old != final and old.name.startswith(CHECKPOINT_PREFIX):
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def _disk_full(exc: BaseException, folder: Path) -> bool:
    """Whether a failed write ran out of space. torch's serializer does not say ENOSPC (it raises
    "file write failed", "unexpected pos ..." or "basic_ios::clear: iostream error"), so a write
    that failed with next to no free space left counts as a full disk."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if "disk full" in str(exc) or "No space left" in str(exc):
        return True
    try:
        return shutil.disk_usage(folder).free < 16 * 2**20
    except OSError:
        return False


def load_checkpoint(accelerator, path: Path, policy, critic, policy_opt, critic_opt) -> dict:
    state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    if state.get("num_processes") != accelerator.num_processes:
        raise HrlaifError(
            f"{path}: saved by {state.get('num_processes')} process(es), resumed with {accelerator.num_processes}; "
            "resume with the same launch setup (or start a fresh out_dir)"
        )
    _load_trainable_state(accelerator.unwrap_model(policy), path / "policy.safetensors")
    _load_trainable_state(accelerator.unwrap_model(critic), path / "critic.safetensors")
    # Loaded on CPU; the optimizer moves its state to the parameters' device.
    policy_opt.load_state_dict(torch.load(path / "policy_optimizer.pt", map_location="cpu"))
    critic_opt.load_state_dict(torch.load(path / "critic_optimizer.pt", map_location="cpu"))
    _set_rng_state(torch.load(path / f"rng-{accelerator.process_index}.pt", weights_only=False))  # our own file
    return state


def read_metrics(path: Path, max_step: int) -> list[dict]:
    """Rows of metrics.jsonl up to `max_step`. A torn last line (power loss or a full disk in the
    middle of a write) is dropped with a warning, since its step is re-run from the checkpoint; a
    bad line elsewhere is an error naming it."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):
                log.warning("%s:%d: dropped a torn last line (%d bytes); its step will be run again", path, number, len(line))
                break
            raise HrlaifError(f"{path}:{number}: not a JSON metrics row; remove the line or start a fresh run directory") from None
    return [row for row in rows if row.get("charts/step", 0) <= max_step]


def truncate_metrics(path: Path, max_step: int) -> list[dict]:
    """Drop rows after the resumed step, so a step logged before a crash is not logged twice."""
    rows = read_metrics(path, max_step)
    with atomic_path(path) as tmp:
        tmp.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return rows


def save_policy(accelerator, policy, tokenizer, target: Path, lora: bool) -> None:
    model = accelerator.unwrap_model(policy)
    if lora:
        model = model.merge_and_unload()  # plain weights, loadable without peft
    if accelerator.is_main_process:
        save_model_folder(model, tokenizer, target)
    accelerator.wait_for_everyone()


def save_model_folder(model, tokenizer, target: Path) -> None:
    """Model and tokenizer written beside `target`, then swapped in: a kill leaves the old folder or the new, never half."""
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    follow_umask(tmp)  # safetensors writes the weights 0600
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
