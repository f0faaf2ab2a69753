"""Ad photos through the server: only from the source's own hosts, only raster images, capped,
kept in private files — tested against real HTTP servers on loopback."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from adwatch.demo.images import placeholder_png
from adwatch.web.images import MAX_BYTES, ImageCache, ImageRefused, host_allowed, media_type
from tests.conftest import loopback_site

PNG = placeholder_png("/img/1-1.jpg")
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>'


def test_only_the_sources_hosts() -> None:
    allowed = ["127.0.0.1", "annonsguiden.example"]
    assert host_allowed("http://127.0.0.1:8765/img/1.jpg", allowed)
    assert host_allowed("https://cdn.annonsguiden.example/a.jpg", allowed)
    for url in ("http://evil.example/a.jpg", "http://annonsguiden.example.evil.example/a.jpg",
                "javascript:alert(1)", "data:image/png;base64,AAAA", "file:///etc/passwd",
                "http://user:pw@127.0.0.1/a.jpg", "http:///a.jpg", "ftp://127.0.0.1/a.jpg", "",
                "http://annonsguiden.example:22/a.jpg", "http://annonsguiden.example:x/a.jpg",
                "http://127.0.0.2/a.jpg", "http://169.254.169.254/latest/meta-data", "http://[::1]/a.jpg"):
        assert not host_allowed(url, allowed), url
    assert host_allowed("http://annonsguiden.example:443/a.jpg", allowed)


def test_names_that_lead_inside_are_not_fetched(tmp_path: Path) -> None:
    from adwatch.web.images import resolves_to_public

    assert not resolves_to_public("localhost")
    assert not resolves_to_public("no-such-host.invalid")
    with pytest.raises(ImageRefused, match="public address"):
        ImageCache(tmp_path).fetch("http://localhost/a.jpg", ["localhost"])


def test_raster_images_only() -> None:
    assert media_type(PNG[:16]) == "image/png"
    assert media_type(b"\xff\xd8\xff\xe0" + b"\x00" * 12) == "image/jpeg"
    assert media_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert media_type(SVG[:16]) is None
    assert media_type(b"<html><script>") is None


def test_fetch_keep_and_refuse(tmp_path: Path) -> None:
    pages = {"/ok.jpg": (200, "image/jpeg", PNG), "/svg.png": (200, "image/png", SVG),
             "/huge.jpg": (200, "image/jpeg", PNG + b"\x00" * (MAX_BYTES + 1)), "/gone.jpg": (404, "text/html", b"")}

    def route(path: str) -> tuple[int, str, bytes]:
        return pages.get(path, (404, "text/plain", b""))

    cache = ImageCache(tmp_path / "web" / "images")
    with loopback_site(route) as base:
        image = cache.fetch(f"{base}/ok.jpg", ["127.0.0.1"])
        assert image.body == PNG and image.media_type == "image/png"  # the bytes decide, not the name
        for path, reason in (("/svg.png", "not a JPEG"), ("/huge.jpg", "larger than"),
                             ("/gone.jpg", "did not give")):
            with pytest.raises(ImageRefused, match=reason):
                cache.fetch(f"{base}{path}", ["127.0.0.1"])
        with pytest.raises(ImageRefused, match="own site"):
            cache.fetch(f"{base}/ok.jpg", ["annonsguiden.example"])
    # Kept: the server is gone, the photo is still there.
    assert cache.fetch(f"{base}/ok.jpg", ["127.0.0.1"]).body == PNG
    folder = tmp_path / "web" / "images"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert [stat.S_IMODE(f.stat().st_mode) for f in folder.iterdir()] == [0o600]


def test_concurrent_writes_of_one_photo(tmp_path: Path) -> None:
    """Threads of the server storing the same photo at once: each gets it, none fails."""
    from concurrent.futures import ThreadPoolExecutor

    from adwatch.web.images import Image

    cache = ImageCache(tmp_path / "images")
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda _: cache.put("http://x/a.jpg", Image(PNG, "image/png")), range(80)))
    assert cache.get("http://x/a.jpg") == Image(PNG, "image/png")
    assert len(list((tmp_path / "images").iterdir())) == 1


def test_unreachable_site_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ImageRefused, match="could not be reached"):
        ImageCache(tmp_path).fetch("http://127.0.0.1:9/a.jpg", ["127.0.0.1"])
