"""hrlaif: Hybrid Reinforcement Learning from AI Feedback (arXiv 2403.08309)."""

__version__ = "0.1.0"
