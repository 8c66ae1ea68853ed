"""TRL trainer configs built from hrlaif's settings plus the section's `trainer_args`.

The keys were checked against the TRL config's fields when the config loaded (config.py); what
only TRL can judge (a value out of range, an unknown scheduler) surfaces here, as one error
naming the section's trainer_args instead of a traceback from inside TRL.
"""

from __future__ import annotations

from typing import Any

from hrlaif.errors import HrlaifError


def trainer_config(kind: type, section: str, ours: dict[str, Any], trainer_args: dict[str, Any]) -> Any:
    """TRL's `kind` (RewardConfig, DPOConfig) with `ours`, then `trainer_args` (max_length may override ours)."""
    try:
        return kind(**{**ours, **trainer_args})  # a trainer_args key wins (config.py refused those hrlaif sets itself)
    except (TypeError, ValueError) as exc:
        if not trainer_args:
            raise
        first = (str(exc).strip().splitlines() or ["no message"])[0][:300]
        raise HrlaifError(f"config key '{section}.trainer_args': TRL's {kind.__name__} refused it ({type(exc).__name__}: {first})") from None
