"""The stages of a run, one module each; `hrlaif.pipeline` puts them in order.

Every stage is a `Stage` (base.py): its folder name, its fingerprint over its config sections
and the fingerprints of the stages it needs, and its body; `StageContext.run_stage` skips,
runs and records it the same way for all of them.
"""

from hrlaif.stages.audit import Audit, write_audit
from hrlaif.stages.base import Stage, StageContext, StageTime, Step
from hrlaif.stages.best_of_n import BestOfN, BestOfNSample
from hrlaif.stages.dpo import DPO
from hrlaif.stages.evaluate import Evaluate, arms
from hrlaif.stages.judge_check import JudgeCheck, Qualified, require_qualified
from hrlaif.stages.label import Label, OracleLabel, label_stage
from hrlaif.stages.ppo import PPO
from hrlaif.stages.redteam import Redteam
from hrlaif.stages.reward_model import RewardModel, uses_redteam
from hrlaif.stages.rm_heldout import RMHeldout
from hrlaif.stages.sample import Sample

__all__ = ["DPO", "PPO", "Audit", "BestOfN", "BestOfNSample", "Evaluate", "JudgeCheck", "Label", "OracleLabel", "Qualified", "Redteam",
           "RMHeldout", "RewardModel", "Sample", "Stage", "StageContext", "StageTime", "Step", "arms", "label_stage", "require_qualified", "uses_redteam",
           "write_audit"]
