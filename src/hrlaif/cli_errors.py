"""How every `hrlaif` command ends on a user error: one red `error:` line and exit 2, no traceback.

Shared by the main CLI and its sub-apps (human-eval), so a full disk or a held run-directory
lock is handled the same way whichever command hit it.
"""

from __future__ import annotations

import errno
import functools
import sqlite3
import sys

import typer
from rich.console import Console

from hrlaif.errors import HrlaifError

# Paths and links stay on one line; a log that is not a terminal gets tables 200 wide, not cut at 80.
console = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 200)

held_locks: list = []  # run-directory locks of the running command, released when it ends


def error_line(text: str) -> None:
    console.print("[bold red]error:[/]", end=" ")
    console.print(" ".join(text.split()), highlight=False, markup=False, soft_wrap=True)


def guard(fn):
    """Print user errors as one red line and exit 2, without a traceback; release run locks."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except HrlaifError as exc:
            error_line(str(exc))
            raise typer.Exit(2) from None
        except OSError as exc:  # the disk filled up somewhere no atomic writer was watching
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            error_line(f"disk full while writing {exc.filename or 'a file'}; the unfinished stage was not kept")
            raise typer.Exit(2) from None
        except sqlite3.OperationalError as exc:
            if "disk is full" not in str(exc) and "disk I/O" not in str(exc):
                raise
            error_line(f"disk full while writing the judge cache ({exc}); answers already stored are kept")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted; finished stages are kept, run again to resume[/]")
            raise typer.Exit(130) from None
        finally:
            while held_locks:
                held_locks.pop().release()

    return wrapper
