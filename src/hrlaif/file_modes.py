"""Files others can read: what we write takes the mode the umask gives any new file.

safetensors writes its files 0600 whatever the umask, so a saved model (and a PPO checkpoint)
was private while the config.json beside it was readable. After writing such a folder we give its
files the mode a plain open() would have: 0o666 less the umask.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def current_umask() -> int:
    """The process's umask, read without changing it: os.umask can only be read by setting it, and
    a thread that creates a file in between would get the temporary value. Linux says it in
    /proc/self/status; elsewhere a probe file created with 0o666 shows what the umask removes from a
    file (its read and write bits, all a file mode needs)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    probe = Path(tempfile.gettempdir()) / f".hrlaif-umask-{os.getpid()}-{os.urandom(4).hex()}"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        return 0o666 & ~os.fstat(fd).st_mode & 0o777
    finally:
        os.close(fd)
        probe.unlink()


def follow_umask(folder: Path) -> None:
    """Give every file under `folder` (one we have just written) the mode the umask gives a new file."""
    mode = 0o666 & ~current_umask()
    for path in Path(folder).rglob("*"):
        if path.is_file() and not path.is_symlink():
            path.chmod(mode)
