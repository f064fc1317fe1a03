"""Files and folders that hold secrets (keys, passwords, a passphrase): private to the user who runs kubeport."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def not_private(path: Path, directory: bool) -> str:
    """Why `path` is not private to this user, or empty when it is: the wrong kind (a link is refused, not followed),
    another owner, or a mode that lets others in."""
    found = path.lstat()
    if not (stat.S_ISDIR if directory else stat.S_ISREG)(found.st_mode):
        return "is not a directory (a link or a file)" if directory else "is not a regular file (a link or a folder)"
    if found.st_uid != os.geteuid():
        return f"belongs to uid {found.st_uid}, not to this user ({os.geteuid()})"
    if found.st_mode & 0o077:
        others, expected = ("enter it", "0700") if directory else ("read it", "0600: chmod 600 it")
        return f"has mode {stat.S_IMODE(found.st_mode):04o}: others may {others} (expected {expected})"
    return ""
