"""The client of the stage worker (``pipelines/worker.py``), on the crawl's asyncio loop.

``StageWorker.call(op, item, args)`` returns a future of ``{"result": …}`` or
``{"error": reason}``. Items asked for in one turn of the loop go to the worker as one
batch per (op, args); at most ``IN_FLIGHT`` batches are out at a time, so batches grow
while the worker is busy and the worker never waits for the crawl. No threads: the pipes
are read and written by the loop itself, so the crawl's thread never waits for a lock
held by a helper thread.

One worker process serves every pipeline of every crawl in the process: the first
``open`` starts it, the last ``close`` ends it. A worker that dies fails its waiting
futures with ``WorkerGone``; the pipelines then do the work themselves (nothing is lost).
ADWATCH_STAGE_WORKER turns it off; on a one-core machine it is off.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the worker imports this module too, and needs no Scrapy
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

IN_FLIGHT = 2  # batches sent and not yet answered
MAX_BATCH = 64  # items per batch (the NLP's nlp.pipe batch size)
LINE_LIMIT = 64 * 1024 * 1024  # one answer line; a capped ad's results are far smaller
STOP_WAIT = 10.0  # seconds a worker gets to answer what it holds before it is killed
START_WAIT = 120.0  # seconds a worker gets to load its NLP pipeline (a slow disk: several seconds)
_PROJECT = Path(__file__).resolve().parent.parent

logger = logging.getLogger(__name__)
# The ad the NLP reads first, to load its lexicons and gazetteers before the crawl needs them.
WARM_UP = {"text": "warm-up: ring 070-174 06 05 i Gävle", "title": "Ny i stan"}


def one_line(exc: BaseException) -> str:
    """An exception as one short line, for a log or an answer."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:500]


class WorkerError(RuntimeError):
    """The worker could not start (its reason is the message)."""


class WorkerGone(RuntimeError):
    """The worker stopped before it answered."""


_Key = tuple[str, str]  # op, its args as JSON: the items of one batch share both (items wait as JSON)


class WorkerProcess:
    """One running ``python -m pipelines.worker``."""

    def __init__(self, region: str | None) -> None:
        self.region = region
        self.alive = False
        self.exit_reason = ""
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        # Waiting items per key, oldest key first: normalize and extract batches take turns.
        self._queues: dict[_Key, deque[tuple[Any, asyncio.Future[Any]]]] = {}
        self._sent: dict[int, list[asyncio.Future[Any]]] = {}
        self._next_id = 0
        self._send_scheduled = False
        self._stopping = False

    async def start(self) -> None:
        """Start the worker and wait until it is ready; WorkerError if it cannot start."""
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_PROJECT),
                                                                           os.environ.get("PYTHONPATH")]))}
        try:
            # A session of its own: the terminal's Ctrl-C goes to the crawl, which decides.
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "pipelines.worker", *([self.region] if self.region else []),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env,
                limit=LINE_LIMIT, start_new_session=True)
        except OSError as exc:
            raise WorkerError(f"cannot start the stage worker: {exc}") from None
        try:
            first = await asyncio.wait_for(self._read_line(), START_WAIT)
        except TimeoutError:
            first = {"fatal": f"not ready after {START_WAIT:.0f} s"}
        if first.get("ready") is not True:
            await self._reap()
            raise WorkerError(f"the stage worker did not start: {first.get('fatal') or 'no ready line'}")
        self.alive = True
        self._reader = asyncio.ensure_future(self._read_answers())

    def call(self, op: str, item: Any, args: dict[str, Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self.alive:
            future.set_exception(WorkerGone(self.exit_reason or "the stage worker is not running"))
            return future
        try:  # here, so that one value JSON cannot carry fails its own item, not a batch
            # ASCII JSON: a lone surrogate from a broken page cannot break the line's encoding.
            encoded = json.dumps(item, ensure_ascii=True)
        except (TypeError, ValueError) as exc:
            future.set_exception(WorkerGone(f"cannot send this item to the stage worker ({exc})"))
            return future
        key = (op, json.dumps(args, sort_keys=True))
        self._queues.setdefault(key, deque()).append((encoded, future))
        if not self._send_scheduled:
            self._send_scheduled = True
            loop.call_soon(self._send)
        return future

    def _send(self) -> None:
        self._send_scheduled = False
        assert self._proc is not None and self._proc.stdin is not None
        while self._queues and len(self._sent) < IN_FLIGHT and self.alive:
            key = next(iter(self._queues))
            waiting = self._queues.pop(key)
            batch = [waiting.popleft() for _ in range(min(MAX_BATCH, len(waiting)))]
            if waiting:
                self._queues[key] = waiting  # to the back of the line
            self._next_id += 1
            futures = [future for _, future in batch]
            line = (f'{{"id": {self._next_id}, "op": {json.dumps(key[0])}, "args": {key[1]}, '
                    f'"items": [{", ".join(encoded for encoded, _ in batch)}]}}\n')
            try:
                self._proc.stdin.write(line.encode("ascii"))
            except (OSError, RuntimeError) as exc:  # the pipe is gone: the reader fails the rest
                for future in futures:
                    if not future.done():
                        future.set_exception(WorkerGone(f"the stage worker's input is closed ({exc})"))
                continue
            self._sent[self._next_id] = futures

    async def _read_line(self) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        try:
            line = await self._proc.stdout.readline()
        except (ValueError, asyncio.LimitOverrunError) as exc:
            return {"fatal": f"answer line too long ({exc})"}
        if not line:
            return {"fatal": "exited"}
        try:
            message = json.loads(line)
        except ValueError:
            return {"fatal": "unreadable answer"}
        return message if isinstance(message, dict) else {"fatal": "unreadable answer"}

    async def _read_answers(self) -> None:
        while True:
            message = await self._read_line()
            futures = self._sent.pop(message["id"], None) if isinstance(message.get("id"), int) else None
            results = message.get("results")
            if futures is None or not isinstance(results, list) or len(results) != len(futures):
                break
            for future, result in zip(futures, results, strict=True):
                if not future.done():
                    future.set_result(result)
            self._send()
        self.exit_reason = f"the stage worker stopped ({message.get('fatal') or 'unexpected answer'})"
        if not self._stopping:
            logger.error("%s; the crawl reads its ads in its own process from now on", self.exit_reason)
        self._fail_all()
        await self._reap()

    def _fail_all(self) -> None:
        self.alive = False
        waiting = [future for futures in self._sent.values() for future in futures]
        waiting += [future for queue in self._queues.values() for _, future in queue]
        self._sent.clear()
        self._queues.clear()
        for future in waiting:
            if not future.done():
                future.set_exception(WorkerGone(self.exit_reason))

    async def stop(self) -> None:
        """Let the worker answer what it holds, then end it (killed after STOP_WAIT)."""
        if self._proc is None:
            return
        self._stopping = True
        if self._proc.stdin is not None and not self._proc.stdin.is_closing():
            self._proc.stdin.close()  # the worker exits at the end of its input
        if self._reader is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._reader), STOP_WAIT)
            except TimeoutError:
                self.exit_reason = "the stage worker did not stop in time"
        await self._reap()
        self._fail_all()

    async def _reap(self) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        try:
            await asyncio.wait_for(proc.wait(), STOP_WAIT)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None


class _Shared:
    """The process's one worker, started by the first user, stopped after the last."""

    def __init__(self) -> None:
        self.process: WorkerProcess | None = None
        self.users = 0
        self._starting: asyncio.Future[WorkerProcess] | None = None

    async def acquire(self, region: str | None) -> WorkerProcess:
        self.users += 1
        try:
            if self.process is not None and self.process.alive:
                return self.process
            if self._starting is None or self._starting.done():
                self._starting = asyncio.ensure_future(self._start(region))
            return await asyncio.shield(self._starting)
        except BaseException:
            self.users -= 1
            raise

    async def _start(self, region: str | None) -> WorkerProcess:
        process = WorkerProcess(region)
        await process.start()
        self.process = process
        return process

    async def release(self) -> None:
        self.users -= 1
        if self.users <= 0 and self.process is not None:
            process, self.process, self.users = self.process, None, 0
            await process.stop()


shared = _Shared()


def worker_wanted(setting: bool) -> bool:
    """A worker only pays with a second core to run on."""
    return setting and (os.cpu_count() or 1) > 1


class StageWorker:
    """One pipeline's use of the shared worker: ``open`` and ``close`` in its
    open_spider / close_spider, ``call`` while ``running``."""

    def __init__(self, region: str | None, stats: StatsCollector | None = None) -> None:
        self.region = region
        self.stats = stats
        self._process: WorkerProcess | None = None
        self._lost = False
        self.start_error: str | None = None

    @classmethod
    def for_crawler(cls, crawler: Crawler) -> StageWorker | None:
        """A handle when ADWATCH_STAGE_WORKER is on (and there is a second core); else None."""
        if not worker_wanted(crawler.settings.getbool("ADWATCH_STAGE_WORKER")):
            return None
        return cls(crawler.settings.get("ADWATCH_DEFAULT_REGION"), crawler.stats)

    async def open(self) -> None:
        """Join (or start) the worker; if it cannot start, ``start_error`` says why and
        ``running`` stays False."""
        try:
            self._process = await shared.acquire(self.region)
        except WorkerError as exc:
            self.start_error = str(exc)

    async def close(self) -> None:
        if self._process is not None:
            self._process = None
            await shared.release()

    @property
    def running(self) -> bool:
        if self._process is None or self._lost:
            return False
        if not self._process.alive:  # it died mid-crawl (the process logged why)
            self._lost = True
            if self.stats is not None:
                self.stats.inc_value("adwatch/worker/lost")
            return False
        return True

    def call(self, op: str, item: Any, args: dict[str, Any]) -> asyncio.Future[Any]:
        """A future of ``{"result": …}`` or ``{"error": reason}``; WorkerGone if the worker stops first."""
        if self._process is None:
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            future.set_exception(WorkerGone(self.start_error or "the stage worker is not open"))
            return future
        return self._process.call(op, item, args)
