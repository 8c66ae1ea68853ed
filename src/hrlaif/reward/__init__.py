"""Rewards for RL beyond the reward model: `hybrid` adds what rules can check to its score."""

from hrlaif.reward.hybrid import HybridReward, hybrid_rewards, prompt_rewards, rule_reward

__all__ = ["HybridReward", "hybrid_rewards", "prompt_rewards", "rule_reward"]
