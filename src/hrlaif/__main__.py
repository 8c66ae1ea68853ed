"""`python -m hrlaif ...`: the `hrlaif` command, also for `accelerate launch -m hrlaif ...`."""

from hrlaif.cli import app

app(prog_name="hrlaif")
