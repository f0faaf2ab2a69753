"""Private file modes: what adwatch keeps is readable by its own user only.

adwatch holds data about vulnerable people, so its data files are created 0600 and the
folders it makes 0700, whatever the umask. Two layers, because either alone leaks:

- ``private_umask()`` sets the process's umask to 077 at the entry points (the CLI's
  ``main``, the environment add-on of ``scrapy crawl``), so files made by any library
  (SQLite's -wal/-shm, Scrapy, logging) are private too;
- ``ensure_private_dir`` / ``open_private`` / ``tighten`` create with explicit modes and
  tighten a file or folder adwatch owns that an older version (or another tool) left too
  open, with one warning line, so the rule holds even where the umask was not set.

A folder adwatch did not create (``ADWATCH_HOME`` given by the operator, ``/tmp``) is never
chmod-ed: it may be shared on purpose; what adwatch puts inside it is private all the same.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path

logger = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
FILE_MODE = 0o600
DIR_MODE = 0o700


def private_umask() -> int:
    """Make everything this process creates from now on private (umask 077); returns the old umask."""
    return os.umask(PRIVATE_UMASK)


def tighten(path: str | Path, mode: int | None = None) -> bool:
    """Take group/other permissions away from ``path`` (a file adwatch owns, or a folder it made);
    True when it had to, with one warning line. A missing path is left alone."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    wanted = mode if mode is not None else (DIR_MODE if stat.S_ISDIR(st.st_mode) else FILE_MODE)
    if not st.st_mode & 0o077:
        return False
    os.chmod(path, wanted)
    logger.warning("%s was readable by other users (mode %o); made it %o", path, stat.S_IMODE(st.st_mode), wanted)
    return True


def ensure_private_dir(path: str | Path, tighten_existing: bool = True) -> Path:
    """Create ``path`` (and missing parents) 0700; an existing folder that is too open is tightened
    (unless ``tighten_existing`` is False: a folder the operator chose, such as ADWATCH_HOME).

    Raises OSError as ``mkdir`` does (a file in the way, a read-only or full disk)."""
    folder = Path(path)
    missing = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for made in reversed(missing):
        try:
            os.mkdir(made, DIR_MODE)
        except FileExistsError:
            if not made.is_dir():
                raise
            continue  # made by another process meanwhile
        os.chmod(made, DIR_MODE)  # mkdir's mode passes through the umask: be explicit
    if not missing:
        if not folder.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder))
        if tighten_existing:
            tighten(folder, DIR_MODE)
    return folder


def open_private(path: str | Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_APPEND) -> int:
    """``os.open`` with mode 0600 whatever the umask; an existing file that is too open is tightened.

    Returns the file descriptor (wrap it with ``os.fdopen``)."""
    fd = os.open(path, flags | os.O_CLOEXEC, FILE_MODE)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o077:
            # Only a file that existed can be too open: os.open's mode never adds bits to the umask's.
            os.fchmod(fd, FILE_MODE)
            logger.warning("%s was readable by other users (mode %o); made it %o", path, mode, FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd
