"""Where the system Chromium is (Debian's ``chromium`` package), and how it is launched."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

# Chromium's headless shell first (Debian's chromium-headless-shell, from the same source package):
# what Playwright itself runs headless; without the browser's UI layer a page costs about a third
# less CPU. Then the full browser's real binary (/usr/bin/chromium is a shell wrapper that adds
# nothing headless needs).
_CANDIDATES = ("/usr/lib/chromium/chromium-headless-shell", "/usr/lib/chromium/chromium")
_ON_PATH = ("chromium-headless-shell", "chromium", "chromium-browser")
# What `make setup` installs with apt: the shell, and the full browser the issue names as the fallback.
APT_PACKAGES = ("chromium-headless-shell", "chromium")


class ChromiumMissing(RuntimeError):
    """No usable Chromium: the message says where it looked and what to do (one line)."""


def find_chromium(configured: str | None) -> str:
    """The Chromium executable: ADWATCH_CHROMIUM_PATH when set, else the usual places."""
    if configured:
        path = Path(configured)
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        found = shutil.which(configured)
        if found:
            return found
        raise ChromiumMissing(f"ADWATCH_CHROMIUM_PATH={configured!r}: no executable there; "
                              "install Debian's chromium-headless-shell or chromium package (make setup does) "
                              "or fix the path")
    for candidate in _CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    for name in _ON_PATH:
        found = shutil.which(name)
        if found:
            return found
    raise ChromiumMissing(f"no Chromium found (looked for {', '.join(_CANDIDATES + _ON_PATH)}): install "
                          "Debian's chromium-headless-shell or chromium package (make setup does) "
                          "or set ADWATCH_CHROMIUM_PATH")


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


# Where the browser sends what it must not fetch: a closed port on this machine, so the request
# fails at once (see launch_options).
_NOWHERE = "http://127.0.0.1:9"


def launch_options(executable: str, allowed_domains: list[str], sandbox: bool = True) -> dict[str, object]:
    """Playwright's launch options for the system Chromium.

    ``allowed_domains`` fences the browser in: every connection to another host — a popup, a
    WebSocket, a worker, a beacon, an image, by name or by IP — goes to a proxy that does not
    exist and fails; only the source's hosts (and their subdomains) are reached directly.
    Loopback is fenced like any other host (``<-loopback>``), so a page cannot reach services on
    the crawling machine unless the source itself is there. ``sandbox`` False runs Chromium
    without its sandbox (it cannot start it as root; the spider refuses that unless the
    operator set ADWATCH_BROWSER_SANDBOX off)."""
    args = ["--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
            "--disable-gpu", "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--metrics-recording-only", "--mute-audio",
            "--block-new-web-contents",  # no popups or new windows
            "--force-webrtc-ip-handling-policy=disable_non_proxied_udp"]  # WebRTC cannot go around the fence
    if allowed_domains:
        direct = [entry for domain in allowed_domains for entry in (domain, f"*.{domain}")]
        args += [f"--proxy-server={_NOWHERE}", "--proxy-bypass-list=" + ";".join(["<-loopback>", *direct])]
    if not sandbox:
        args.append("--no-sandbox")
    return {"executable_path": executable, "headless": True, "args": args,
            "handle_sigint": False, "handle_sigterm": False}  # Scrapy decides when the crawl stops


def _apt_install(apt: str, packages: tuple[str, ...]) -> None:
    quiet = ["env", "DEBIAN_FRONTEND=noninteractive", apt]  # no questions asked, whatever the terminal
    for package in packages:  # one at a time: an older Debian has no headless shell
        command = [*quiet, "install", "-y", "--no-install-recommends", package]
        if subprocess.run(command, check=False).returncode != 0:  # stale package lists
            subprocess.run([*quiet, "update"], check=False)
            subprocess.run(command, check=False)


def ensure_installed(configured: str | None = None) -> int:
    """`make setup`: install Debian's headless shell and chromium with apt when they are missing
    and we may (root, apt); else say how. Returns 0 when a Chromium is there afterwards, 1 when
    not (HTML and feed sources still work without one)."""
    apt = shutil.which("apt-get")
    may_install = bool(apt) and running_as_root()
    try:
        found = find_chromium(configured)
    except ChromiumMissing as exc:
        found, missing = "", str(exc)
    if not configured and may_install and not found.endswith("headless-shell"):
        print(f"chromium: installing {' and '.join(APT_PACKAGES)} with apt-get", flush=True)
        assert apt is not None
        _apt_install(apt, APT_PACKAGES)
        try:
            found = find_chromium(configured)
        except ChromiumMissing as exc:
            missing = str(exc)
    if found:
        print(f"chromium: {found}")
        return 0
    if apt and not may_install:
        missing += f"; as a user with sudo: sudo apt-get install --no-install-recommends {' '.join(APT_PACKAGES)}"
    print(f"chromium: {missing}. Browser sources (kind: browser) cannot run until it is there.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    from config.environment import overrides  # the one reader of the environment

    raise SystemExit(ensure_installed(overrides().get("ADWATCH_CHROMIUM_PATH")))
