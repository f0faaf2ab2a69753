"""The stages that read ads, in a process of their own: ``python -m pipelines.worker [REGION]``.

A crawl's reactor thread is the crawl's bottleneck (one CPU core), and reading ads (the
HTML → text of normalize, the NLP of enrich) is the largest cost on it. The pipelines
therefore hand those two pure functions to this worker, which runs them on a second core,
through ``pipelines/worker_client.py``. Dedupe, the store and the alerts stay in the crawl.

The protocol is JSON lines on stdin/stdout (JSON, not pickle: nothing executable crosses):
- the worker starts with ``{"ready": true}``, or ``{"fatal": "reason"}`` and exit code 1
  when the NLP pipeline cannot be built;
- request ``{"id": N, "op": "normalize"|"extract", "args": {…}, "items": […]}`` → answer
  ``{"id": N, "results": [{"result": …} | {"error": "reason"}, …]}``, in order; one item
  that fails gets its error and the others their results.
It exits when stdin closes (its parent is done, or was killed) and ignores SIGINT and
SIGTERM, so the parent's Ctrl-C lets the crawl finish the ads already sent.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from typing import IO, Any

from nlp.extract import extract_many
from pipelines.textclean import Caps, normalize_safely
from pipelines.worker_client import WARM_UP, one_line


def _extract(items: list[Any], args: dict[str, Any]) -> list[Any]:
    return extract_many(items, default_region=args.get("region"))


def _normalize(items: list[Any], args: dict[str, Any]) -> list[Any]:
    caps = Caps(**args)
    return [normalize_safely(item, caps) for item in items]


# op → a function of a batch (items, args) → one result per item, in order.
OPS: dict[str, Callable[[list[Any], dict[str, Any]], list[Any]]] = {"extract": _extract, "normalize": _normalize}


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """The answer line to one request line."""
    items, args = request["items"], request.get("args") or {}
    run = OPS.get(request.get("op", ""))
    if run is None:
        return {"id": request["id"], "results": [{"error": f"unknown op {request.get('op')!r}"}] * len(items)}
    try:
        results = [{"result": result} for result in run(items, args)]
    except Exception:  # find the item that fails; the rest keep their results
        results = []
        for item in items:
            try:
                results.append({"result": run([item], args)[0]})
            except Exception as exc:
                results.append({"error": one_line(exc)})
    return {"id": request["id"], "results": results}


def _write(out: IO[bytes], message: dict[str, Any]) -> None:
    # ASCII JSON: a lone surrogate from a broken page cannot break the line's encoding.
    out.write(json.dumps(message, ensure_ascii=True).encode("ascii") + b"\n")
    out.flush()


def serve(stdin: IO[bytes], stdout: IO[bytes], region: str | None) -> int:
    try:
        extract_many([WARM_UP], default_region=region)  # load lexicons and gazetteers now
    except Exception as exc:
        _write(stdout, {"fatal": one_line(exc)})
        return 1
    _write(stdout, {"ready": True})
    for line in stdin:
        try:
            request = json.loads(line)
        except ValueError as exc:  # only the parent writes here: a bad line means a broken pipe
            _write(stdout, {"fatal": f"unreadable request: {one_line(exc)}"})
            return 1
        _write(stdout, answer(request))
    return 0


def main(argv: list[str]) -> int:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    return serve(sys.stdin.buffer, sys.stdout.buffer, argv[0] if argv else None)


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    # Everything is answered and flushed; tearing down the NLP's large heap object by object
    # would only keep the crawl waiting for this process to end.
    os._exit(code)
