"""One exception type for problems the user can fix, so the CLI can print them without a traceback."""


class HrlaifError(Exception):
    """A user-facing error: bad input file, bad config key, missing model, exhausted budget."""
