"""A real single-node Elasticsearch on loopback, for the tests, CI and trying things out.

    python -m tests.es_node start [--port 9200]   # prints the node's URL
    python -m tests.es_node stop [--port 9200]
    python -m tests.es_node run -- COMMAND …      # a node around one command (make test)

The minimal distribution Elasticsearch publishes on Maven Central (``integ-test-zip``) is
fetched once with Maven, unpacked outside ``/root`` and run as a dedicated user, because
Elasticsearch refuses to run as root. It has no bundled JDK (the system Java 17 runs it)
and no ``analysis-common``, painless or reindex modules, so the store needs none of them.

When Java or Maven is missing, ``start`` says so loudly and exits 0, and the Elasticsearch
tests skip; under ``CI=true`` a node that does not come up fails the run instead.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

# Newest first: the first version Maven resolves is used (8.19.x is the last 8.x line).
VERSIONS = ("8.19.8", "8.19.7", "8.19.5", "8.18.8", "8.17.10")
HOME = Path(os.environ.get("ADWATCH_ES_DIR", "/var/tmp/adwatch-es"))
USER = "adwatch-es"
HEAP = "-Xms512m -Xmx512m"
START_TIMEOUT = 180.0


class NodeError(RuntimeError):
    pass


def _say(message: str) -> None:
    print(f"es-node: {message}", file=sys.stderr, flush=True)


def url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def healthy(base_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/_cluster/health?wait_for_status=yellow&timeout=1s",
                                    timeout=timeout) as response:
            return json.load(response).get("status") in ("yellow", "green")
    except (OSError, ValueError):
        return False


def java_home() -> Path | None:
    java = shutil.which("java")
    if not java:
        return None
    return Path(java).resolve().parent.parent


def _fetch(version: str, into: Path) -> Path | None:
    zip_path = into / f"elasticsearch-{version}.zip"
    if zip_path.exists():
        return zip_path
    if not shutil.which("mvn"):
        return None
    artifact = f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{version}:zip"
    _say(f"fetching Elasticsearch {version} from Maven Central …")
    done = subprocess.run(
        ["mvn", "-q", "-B", "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy",
         f"-Dartifact={artifact}", f"-DoutputDirectory={into}"],
        capture_output=True, text=True, timeout=900, check=False,
    )
    if done.returncode != 0 or not zip_path.exists():
        _say(f"Elasticsearch {version} did not resolve: {(done.stdout + done.stderr).strip()[-300:]}")
        return None
    return zip_path


def distribution() -> Path:
    """The unpacked distribution, fetched and unpacked on first use."""
    HOME.mkdir(parents=True, exist_ok=True)
    for version in VERSIONS:
        unpacked = HOME / f"elasticsearch-{version}"
        if (unpacked / "bin" / "elasticsearch").exists():
            return unpacked
        zip_path = _fetch(version, HOME)
        if zip_path is None:
            continue
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(HOME)
        for script in (unpacked / "bin").iterdir():
            script.chmod(0o755)
        for tool in (unpacked / "jdk").glob("bin/*") if (unpacked / "jdk").exists() else ():
            tool.chmod(0o755)
        return unpacked
    raise NodeError("no Elasticsearch 8.x distribution resolved from Maven Central")


def _run_as() -> list[str]:
    """Elasticsearch refuses root: as root, run it as a dedicated system user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER],
                       check=True)
    return ["runuser", "-u", USER, "--"]


def _state_file(port: int) -> Path:
    return HOME / f"node-{port}.json"


def start(port: int = 9200) -> str:
    """Start a node on ``port`` (or reuse the one already there) and wait until it serves."""
    base_url = url(port)
    if healthy(base_url):
        return base_url
    home = java_home()
    if home is None:
        raise NodeError("no Java on PATH (Elasticsearch needs Java 17+)")
    dist = distribution()
    node_dir = HOME / f"node-{port}"
    for sub in ("data", "logs", "tmp"):
        (node_dir / sub).mkdir(parents=True, exist_ok=True)
    run_as = _run_as()
    if run_as:
        subprocess.run(["chown", "-R", f"{USER}:", str(dist), str(node_dir)], check=True)
    env = {**os.environ, "ES_JAVA_HOME": str(home), "ES_JAVA_OPTS": HEAP, "ES_TMPDIR": str(node_dir / "tmp")}
    env.pop("JAVA_HOME", None)
    command = [
        *run_as, str(dist / "bin" / "elasticsearch"), "-d", "-p", str(node_dir / "es.pid"),
        "-E", "discovery.type=single-node", "-E", "network.host=127.0.0.1", "-E", f"http.port={port}",
        "-E", f"transport.port={port + 100}", "-E", "xpack.security.enabled=false",
        "-E", f"path.data={node_dir / 'data'}", "-E", f"path.logs={node_dir / 'logs'}",
        "-E", f"cluster.name=adwatch-{port}", "-E", "cluster.routing.allocation.disk.threshold_enabled=false",
        "-E", "action.destructive_requires_name=false",
    ]
    _say(f"starting Elasticsearch on {base_url} ({dist.name}) …")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise NodeError(f"elasticsearch exited {done.returncode}: {(done.stdout + done.stderr).strip()[-500:]}")
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if healthy(base_url):
            _state_file(port).write_text(json.dumps({"url": base_url, "pid_file": str(node_dir / "es.pid")}))
            _say(f"ready on {base_url}")
            return base_url
        time.sleep(1.0)
    raise NodeError(f"no healthy node on {base_url} after {START_TIMEOUT:.0f} s; see {node_dir / 'logs'}")


def _pid_from_file(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _pid_from_node(base_url: str) -> int | None:
    """The process id a node on this port reports, if it is one of ours (cluster adwatch-PORT)."""
    try:
        with urllib.request.urlopen(f"{base_url}/_nodes/_local/process", timeout=2) as response:
            info = json.load(response)
    except (OSError, ValueError):
        return None
    if not str(info.get("cluster_name", "")).startswith("adwatch-"):
        return None  # somebody else's node: never stop it
    return next((int(n["process"]["id"]) for n in info.get("nodes", {}).values()), None)


def stop(port: int = 9200, timeout: float = 60.0) -> bool:
    """Stop the node this tool started on ``port``; False when there was none."""
    pid_file = HOME / f"node-{port}" / "es.pid"
    pid = _pid_from_file(pid_file) or _pid_from_node(url(port))  # a node left by an interrupted run has no file
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pid_file.unlink(missing_ok=True)
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.3)
    else:
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    _state_file(port).unlink(missing_ok=True)
    return True


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def ensure(port: int) -> tuple[str | None, bool]:
    """(URL of a reachable node or None, whether this call started it)."""
    given = os.environ.get("ADWATCH_TEST_ES_URL")
    if given:
        if healthy(given, timeout=10):
            return given, False
        message = f"ADWATCH_TEST_ES_URL={given} is not reachable"
        if _ci():
            raise NodeError(message)
        _say(f"{message}; starting a local node instead")
    was_up = healthy(url(port))
    try:
        return start(port), not was_up
    except (NodeError, OSError, subprocess.SubprocessError) as exc:
        if _ci():
            raise NodeError(f"CI needs a real Elasticsearch node and none started: {exc}") from exc
        _say("=" * 72)
        _say(f"NO ELASTICSEARCH NODE: {exc}")
        _say("The Elasticsearch tests will be SKIPPED. Install Java 17 and Maven, or set ADWATCH_TEST_ES_URL.")
        _say("=" * 72)
        return None, False


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.es_node")
    parser.add_argument("action", choices=["start", "stop", "run", "url"])
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.action == "stop":
            _say("stopped" if stop(args.port) else f"no node of ours on port {args.port}")
            return 0
        if args.action == "url":
            print(url(args.port))
            return 0 if healthy(url(args.port)) else 1
        base_url, started = ensure(args.port)
    except NodeError as exc:
        _say(f"error: {exc}")
        return 1
    if args.action == "start":
        if base_url:
            print(base_url)
        return 0
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    env = dict(os.environ)
    if base_url:
        env["ADWATCH_TEST_ES_URL"] = base_url
    try:
        return subprocess.run(command, env=env, check=False).returncode
    finally:
        if started:
            stop(args.port)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
