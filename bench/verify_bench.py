"""``adwatch evidence verify`` speed: MB/s over a generated archive of realistic size.

The archive is one rotation's worth (ADWATCH_EVIDENCE_WARC_MB, 100 MB by default) in the crawl's
layout: per page a request and a response (an ad page of 20 to 60 KB of HTML), and for one page
in ten a rendered DOM and a PNG screenshot (incompressible, 60 to 200 KB), each record a gzip
member with SHA-256 block and payload digests. Timed in the same run: ``verify`` (inflate every
member, recompute every digest) against inflating the same members and nothing else (the floor
any checker pays), and the CLI end to end (``adwatch evidence verify FILE``, start-up included).
"""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

from warcio.statusandheaders import StatusAndHeaders
from warcio.utils import Digester
from warcio.warcwriter import WARCWriter

from adwatch.demo import generate_ads
from adwatch.evidence.verify import verify_path

ROOT = Path(__file__).resolve().parent.parent


class _Writer(WARCWriter):
    @staticmethod
    def _create_digester() -> Digester:
        return Digester("sha256")


def make_archive(path: Path, megabytes: int = 100, seed: int = 7) -> int:
    """A WARC file of about ``megabytes`` MB; returns its number of records."""
    rng = random.Random(seed)
    ads = generate_ads(seed=seed, count=400)
    records = 0
    with open(path, "wb") as fh:
        writer = _Writer(fh, gzip=True, warc_version="WARC/1.1")
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "adwatch bench"}))
        n = 0
        while fh.tell() < megabytes * 1_000_000:
            ad = ads[n % len(ads)]
            n += 1
            url = f"http://127.0.0.1:8765/annons/{n}"
            filler = " ".join(rng.choice(ads).text for _ in range(rng.randint(8, 30)))
            body = (f"<html><head><title>{ad.title}</title></head><body><nav>{'<a href=/x>x</a>' * 200}</nav>"
                    f"<article><h1>{ad.title}</h1><p>{ad.text}</p><div class=more>{filler}</div></article>"
                    f"</body></html>").encode()
            request = writer.create_warc_record(url, "request", payload=io.BytesIO(b""), length=0,
                                                http_headers=StatusAndHeaders(f"GET /annons/{n} HTTP/1.1",
                                                                              [("Host", "127.0.0.1:8765")],
                                                                              is_http_request=True))
            response = writer.create_warc_record(url, "response", payload=io.BytesIO(body), length=len(body),
                                                 http_headers=StatusAndHeaders("200 OK", [
                                                     ("Content-Type", "text/html; charset=utf-8"),
                                                     ("Content-Length", str(len(body)))], protocol="HTTP/1.1"))
            writer.write_record(request)
            writer.write_record(response)
            records += 2
            if n % 10 == 0:
                dom = body.replace(b"<div class=more>", b"<div class=more data-rendered=1>")
                shot = rng.randbytes(rng.randint(60_000, 200_000))
                for uri, data, kind in ((f"urn:dom:{url}", dom, "text/html"), (f"urn:screenshot:{url}", shot,
                                                                                 "image/png")):
                    writer.write_record(writer.create_warc_record(uri, "resource", payload=io.BytesIO(data),
                                                                  length=len(data), warc_content_type=kind))
                    records += 1
    return records


def _inflate_only(path: Path) -> None:
    data = path.read_bytes()
    view = memoryview(data)
    pos = 0
    while pos < len(data):
        inflater = zlib.decompressobj(31)
        fed = pos
        while not inflater.eof:
            chunk = view[fed:fed + 32768]
            fed += len(chunk)
            inflater.decompress(chunk)
        pos = fed - len(inflater.unused_data)


def run(megabytes: int = 100, rounds: int = 3) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="adwatch-verify-bench-") as folder:
        path = Path(folder) / "bench.warc.gz"
        records = make_archive(path, megabytes)
        size = path.stat().st_size
        verify_s = floor_s = cli_s = float("inf")
        for _ in range(rounds):
            started = time.perf_counter()
            report = verify_path(path)
            verify_s = min(verify_s, time.perf_counter() - started)
            assert report.ok and report.records == records + 1, report.findings[:3]
            started = time.perf_counter()
            _inflate_only(path)
            floor_s = min(floor_s, time.perf_counter() - started)
        env = {**os.environ, "ADWATCH_HOME": folder}
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "adwatch", "evidence", "verify", str(path)], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=600)
        cli_s = time.perf_counter() - started
        assert done.returncode == 0, done.stderr[-2000:]
    mb = size / 1e6
    return {"archive_mb": round(mb, 1), "records": records + 1, "verify_mb_s": round(mb / verify_s, 1),
            "inflate_only_mb_s": round(mb / floor_s, 1), "ratio_to_inflate": round(floor_s / verify_s, 2),
            "cli_mb_s": round(mb / cli_s, 1), "cli_s": round(cli_s, 2)}


def report(result: dict[str, Any]) -> str:
    return (f"evidence verify: {result['verify_mb_s']} MB/s over a {result['archive_mb']} MB WARC of "
            f"{result['records']} records (inflating alone: {result['inflate_only_mb_s']} MB/s, ratio "
            f"{result['ratio_to_inflate']}); the CLI end to end {result['cli_mb_s']} MB/s ({result['cli_s']} s)")


if __name__ == "__main__":
    print(report(run(int(sys.argv[1]) if len(sys.argv) > 1 else 100)))
