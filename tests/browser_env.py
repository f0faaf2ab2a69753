"""Whether browser tests can run here: the system Chromium (Debian's `chromium`)."""

from __future__ import annotations

import os

import pytest

from spiders.browser.chromium import ChromiumMissing, find_chromium


def require_chromium() -> str:
    """The Chromium path; without one the test is skipped, and under CI it fails (CI must prove it)."""
    try:
        return find_chromium(os.environ.get("ADWATCH_CHROMIUM_PATH"))
    except ChromiumMissing as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{exc} (CI needs a real Chromium: `make setup` installs it)")
        pytest.skip(str(exc))
