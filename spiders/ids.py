"""Stable ad ids: source + the site's own ad id, else a hash of the canonical URL."""

from __future__ import annotations

import hashlib
import re

from w3lib.url import canonicalize_url


def site_ad_id(url: str, pattern: str | None) -> str | None:
    if not pattern:
        return None
    match = re.search(pattern, url)
    return match.group(1) if match else None


def ad_id(source: str, url: str, pattern: str | None) -> str:
    site_id = site_ad_id(url, pattern)
    if site_id:
        return f"{source}:{site_id}"
    # Host and port are left out so a mirror or a moved demo site keeps the same ids.
    path = canonicalize_url(url).split("://", 1)[-1].split("/", 1)[-1]
    return f"{source}:u{hashlib.sha256(path.encode()).hexdigest()[:16]}"
