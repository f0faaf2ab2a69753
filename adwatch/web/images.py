"""An ad's photos, fetched by the server (never by the analyst's browser) and kept.

The browser must not contact an ad site: the site would learn who is looking. So the page
asks adwatch, which fetches the photo from the ad's own site — only from the hosts the
operator allowed for that source (its ``allowed_domains``, the hosts adwatch crawls anyway),
only raster images it recognises by their first bytes (no SVG: it can carry script), at most
``MAX_BYTES`` — and keeps it under ``ADWATCH_HOME/web/images`` (0700/0600). Pages show them
blurred until the analyst reveals them (or turns the blur off in the settings).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

MAX_BYTES = 5 * 1024 * 1024
TIMEOUT_S = 10.0  # connecting, and between two reads
DEADLINE_S = 20.0  # the whole photo
_KINDS = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"GIF87a", "image/gif"),
          (b"GIF89a", "image/gif"))


class ImageRefused(LookupError):
    """Not fetched: the reason, in one line (shown as a 404 or 502 to the page)."""


@dataclass(frozen=True)
class Image:
    body: bytes
    media_type: str


def media_type(head: bytes) -> str | None:
    for magic, kind in _KINDS:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def host_allowed(url: str, allowed: list[str]) -> bool:
    """On one of the source's hosts (or their subdomains). A host named by its address (the demo's
    127.0.0.1) only when the operator listed that very address; a named host only on the web's
    ports, so a photo address cannot be used to probe other services."""
    parts = urlsplit(url)
    try:
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port
    except ValueError:  # a port that is no number
        return False
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        return False
    if _is_address(host):
        return host in {d.lower() for d in allowed}
    if port not in (None, 80, 443):
        return False
    return any(host == d.lower() or host.endswith("." + d.lower()) for d in allowed)


def _is_address(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def resolves_to_public(host: str) -> bool:
    """Every address the name has is a public one: a site's name that points at this machine, the
    private network or a cloud's metadata service is not fetched (names checked at fetch time)."""
    import ipaddress
    import socket

    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return False
    addresses = {str(info[4][0]) for info in found}
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_global for a in addresses)


class ImageCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, url: str) -> Path:
        return self.folder / hashlib.sha256(url.encode("utf-8")).hexdigest()

    def get(self, url: str) -> Image | None:
        try:
            body = self._path(url).read_bytes()
        except OSError:
            return None
        kind = media_type(body[:16])
        return Image(body, kind) if kind else None

    def put(self, url: str, image: Image) -> None:
        """Written whole under a temporary name, then renamed: a reader never sees half a photo."""
        import os

        from adwatch.core.private import ensure_private_dir

        ensure_private_dir(self.folder)
        import tempfile

        final = self._path(url)
        fd, partial = tempfile.mkstemp(dir=self.folder, prefix=f"{final.name}.", suffix=".part")  # 0600
        with os.fdopen(fd, "wb") as out:
            out.write(image.body)
        os.replace(partial, final)

    def fetch(self, url: str, allowed: list[str]) -> Image:
        """From the cache, else from the site (no redirects: a redirect could leave the allowed hosts)."""
        if not host_allowed(url, allowed):
            raise ImageRefused("the image is not on the source's own site")
        host = (urlsplit(url).hostname or "").lower()
        if not _is_address(host) and not resolves_to_public(host):
            raise ImageRefused("the site's name does not lead to a public address")
        cached = self.get(url)
        if cached is not None:
            return cached
        import time

        import httpx

        deadline = time.monotonic() + DEADLINE_S
        try:
            with httpx.stream("GET", url, timeout=TIMEOUT_S, follow_redirects=False,
                              headers={"accept": "image/avif,image/webp,image/png,image/jpeg,image/gif"}) as answer:
                if answer.status_code != 200:
                    raise ImageRefused("the site did not give the photo")  # no status: no probing
                body = b""
                for chunk in answer.iter_bytes():
                    body += chunk
                    if len(body) > MAX_BYTES:
                        raise ImageRefused(f"larger than {MAX_BYTES // (1024 * 1024)} MB")
                    if time.monotonic() > deadline:  # a site that trickles bytes holds no thread for long
                        raise ImageRefused(f"slower than {DEADLINE_S:g} s")
        except httpx.HTTPError as exc:
            raise ImageRefused(f"the site could not be reached ({type(exc).__name__})") from None
        kind = media_type(body[:16])
        if kind is None:
            raise ImageRefused("not a JPEG, PNG, GIF or WebP image")
        image = Image(body, kind)
        self.put(url, image)
        return image
