"""Progress lines appear on a terminal and never in piped output."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

from adwatch.demo import DemoSite
from tests.conftest import ADWATCH, ROOT, run_adwatch


def test_progress_on_a_terminal_only(home: Path) -> None:
    with DemoSite(seed=3, count=150) as site:
        args = ["crawl", "annonsguiden", "--base-url", site.base_url, "-s", "ADWATCH_PROGRESS_INTERVAL=0.2"]
        master, slave = pty.openpty()
        proc = subprocess.Popen([*ADWATCH, *args], cwd=ROOT, env={**os.environ, "ADWATCH_HOME": str(home)},
                                stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        seen = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        os.close(master)
        assert proc.wait(timeout=120) == 0
        assert " pages · ".encode() in seen
        piped = run_adwatch(*args, "--refresh", home=home, check=True)
        assert " pages · " not in piped.stderr


def test_set_needs_name_and_value(home: Path) -> None:
    result = run_adwatch("crawl", "annonsguiden", "-s", "NOVALUE", home=home)
    assert result.returncode == 2 and "NAME=VALUE" in result.stderr
