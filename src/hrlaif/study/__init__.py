"""Several comparisons side by side: the same one over seeds (`compare --seeds N`, seeds.py) or
once per labeler (`hrlaif study`, summary.py); runner.py runs them."""
