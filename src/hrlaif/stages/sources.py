"""Every data source a run reads, read and checked before its first stage (issue 28).

The eval prompts are first read by the last stage, best-of-n's prompts and the monitor's late
too: a wrong column there used to end a run after every arm had trained. `check_sources` reads
each one the way its stage will (same reader, same data.* mapping), so a bad source ends the run
at once, with the stage's own one-line error. Loads no model.
"""

from __future__ import annotations

from hrlaif.config import RunConfig
from hrlaif.errors import HrlaifError
from hrlaif.prompts import load_prompts


def check_sources(config: RunConfig) -> None:
    """Read train and eval prompts, best_of_n.prompts (when on), the PPO monitor's prompts (when
    on) and the attack sets red teaming and evaluation use; raise the first problem found."""
    from hrlaif.labeling.attacks import EVAL_SET, TRAIN_SET, load_attack_set
    from hrlaif.train.monitor import load_monitor_prompts

    c, d = config, config.data
    reads = [("data.train_prompts", lambda: load_prompts(d.train_prompts, d.max_train_prompts, d, "train")),
             ("data.eval_prompts", lambda: load_prompts(d.eval_prompts, d.max_eval_prompts, d, "eval"))]
    if c.best_of_n.enabled:
        reads.append(("best_of_n.prompts", lambda: load_prompts(c.best_of_n.prompts, c.best_of_n.max_prompts, d, "eval")))
    if "ppo" in c.compare.algorithms and c.ppo.monitor_every:
        reads.append(("ppo.monitor_source", lambda: load_monitor_prompts(c.ppo.monitor_source, c.ppo.monitor_prompts)))
    if c.redteam.enabled:
        reads.append(("redteam.attacks", lambda: load_attack_set(TRAIN_SET)))
    if c.evaluate.max_attack_prompts:
        reads.append(("evaluate.max_attack_prompts", lambda: load_attack_set(EVAL_SET)))
    for key, read in reads:
        try:
            read()
        except HrlaifError as exc:
            message = str(exc)
            raise HrlaifError(message if key in message else f"{message} (read as {key}, before the first stage)") from None
