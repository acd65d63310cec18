"""The README's commands, run as written (issue 11's acceptance).

The embedded section line by line (``spacegrid demo`` in the background, then the curl it
prints must place an order: 201); then the distributed section as one bash script. Only
the ports move, so a person's engines and other test runs are never disturbed: the
settings point the members and the broker at free loopback ports, the cache dir is the
test's own (sharing the engines' jars), and a ``spacegrid`` shim first on PATH adds
``--port <free>`` to the commands that serve HTTP. Before ``verify`` the shim waits for
unit, pump and writer to be ready and signs a user up through the unit, so ``verify``
checks a change that travelled grid -> pump -> Kafka -> writer -> SQLite.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools.local import jars, member_jar
from tools.local.processes import free_ports, port_is_free
from tools.local.units import REPO_ROOT
from tests.support.engines import cache_dir, engines_unavailable
from tests.support.eventually import eventually

README = REPO_ROOT / "README.md"
SERVERS = ("demo", "up", "unit", "pump", "writer")


def sh_blocks(section: str) -> list[str]:
    """The ```sh blocks of the README section whose heading starts with ``section``."""
    text = README.read_text()
    start = text.index(f"\n## {section}")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```sh\n(.*?)```", text[start:end if end > 0 else None], re.S)


def _consecutive_free(count: int) -> int:
    """A base port with ``count`` free ports from it (members take a range from their first port)."""
    for base in free_ports(40):
        if all(port_is_free(p) for p in range(base, base + count)):
            return base
    raise AssertionError("no free port range")


def _shim(bin_dir: Path, ports: dict[str, int], ready_urls: list[str]) -> None:
    """``spacegrid`` = the real one, with a free --port for servers; verify waits for readiness."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    real = f"{shlex.quote(sys.executable)} -m spacegrid.cli"
    cases = "\n".join(f'  {cmd}) exec {real} "$@" --port {port} ;;' for cmd, port in ports.items())
    waiter = (
        "import json, sys, time, urllib.request\n"
        "deadline = time.monotonic() + 180\n"
        "for url in sys.argv[1:-1]:\n"
        "    while True:\n"
        "        try:\n"
        "            body = urllib.request.urlopen(url, timeout=2).read().decode()\n"
        "            print('health', url, body, file=sys.stderr); break\n"
        "        except OSError:\n"
        "            if time.monotonic() > deadline: sys.exit(f'not ready: {url}')\n"
        "            time.sleep(0.5)\n"
        "body = json.dumps({'email': 'readme@example.com', 'name': 'Readme', 'password': 'readme-pass-1'}).encode()\n"
        "req = urllib.request.Request(sys.argv[-1] + '/users', body, {'Content-Type': 'application/json'})\n"
        "print('signed up:', urllib.request.urlopen(req, timeout=30).status, file=sys.stderr)\n"
    )
    (bin_dir / "readme_wait.py").write_text(waiter)
    unit = f"http://127.0.0.1:{ports['unit']}"
    script = f"""#!/usr/bin/env bash
case "$1" in
{cases}
  verify) {shlex.quote(sys.executable)} {bin_dir / 'readme_wait.py'} {' '.join(ready_urls)} {unit} || exit 1
          exec {real} "$@" ;;
esac
exec {real} "$@"
"""
    path = bin_dir / "spacegrid"
    path.write_text(script)
    path.chmod(0o755)


@pytest.fixture
def readme_env(tmp_path: Path) -> dict[str, str]:
    """Free ports, a cache dir of the test's own (with the engines' jars), a shim on PATH."""
    try:
        jars.require_tools()
        for engine in ("hazelcast", "kafka"):
            jars.ensure_jars(cache_dir(), engine)
        member_jar.ensure_member_jar(cache_dir())
    except jars.JarFetchError as e:
        engines_unavailable(str(e))
    cache = tmp_path / "cache"
    cache.mkdir()
    for shared in ("jars", "member"):
        (cache / shared).symlink_to(cache_dir() / shared)
    members, kafka = _consecutive_free(10), _consecutive_free(2)
    demo, unit, pump, writer = free_ports(4)
    ports = {"demo": demo, "up": demo, "unit": unit, "pump": pump, "writer": writer}
    ready = [f"http://127.0.0.1:{p}/health/ready" for p in (unit, pump, writer)]
    _shim(tmp_path / "bin", ports, ready)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPACEGRID_")}
    env.update({
        "PATH": os.pathsep.join([str(tmp_path / "bin"), str(Path(sys.executable).parent), env.get("PATH", "")]),
        "PYTHONPATH": str(REPO_ROOT),
        "SPACEGRID_CACHE_DIR": str(cache),
        "SPACEGRID_HAZELCAST_MEMBERS": f"127.0.0.1:{members}",
        "SPACEGRID_HAZELCAST_CLUSTER": f"readme-{members}",
        "SPACEGRID_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka}",
        "SPACEGRID_DRAIN_GRACE_S": "0.5",
        "DEMO_PORT": str(demo),
    })
    return env


def _lines(block: str) -> list[str]:
    return [ln.split("  #")[0].strip() for ln in block.splitlines() if ln.strip() and not ln.startswith("#")]


def test_readme_commands_work_as_written(readme_env: dict[str, str], tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    env = readme_env

    # ---- "Try it": line by line; servers in the background -------------------------------
    (block,) = sh_blocks("Try it")
    demo = None
    try:
        for line in _lines(block):
            if line.split()[:2] in (["spacegrid", s] for s in SERVERS):
                log = open(tmp_path / "demo.out", "w")
                demo = subprocess.Popen(["bash", "-c", line], env=env, cwd=work, stdout=log,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
                continue
            done = subprocess.run(["bash", "-c", line], env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                                  timeout=300)
            assert done.returncode == 0, f"{line}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
        assert demo is not None, "the section starts no server"

        def curl_line() -> str:
            lines = (tmp_path / "demo.out").read_text().splitlines()
            assert demo.poll() is None, "\n".join(lines)
            heads = [i for i, ln in enumerate(lines) if ln.strip() == "first order (201):"]
            assert heads and len(lines) > heads[0] + 1
            return lines[heads[0] + 1].strip()

        curl = eventually(curl_line, timeout=90)
        assert f":{env['DEMO_PORT']}/orders" in curl
        placed = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30)
        assert placed.stdout.startswith("HTTP/1.1 201"), placed.stdout + placed.stderr
    finally:
        if demo is not None:
            os.killpg(demo.pid, signal.SIGTERM)
            assert demo.wait(60) == 0

    # ---- "Distributed mode, by hand": one bash script, as written -------------------------
    # (in the same directory: the grid starts from the demo's database, as a user's would)
    (block,) = sh_blocks("Distributed mode")
    started = time.monotonic()
    with open(tmp_path / "dist.out", "w") as stdout, open(tmp_path / "dist.err", "w") as stderr:
        script = subprocess.Popen(["bash", "-e", "-c", block], env=env, cwd=work, stdout=stdout, stderr=stderr,
                                  start_new_session=True)
    try:
        code = script.wait(540)
        out, err = (tmp_path / "dist.out").read_text(), (tmp_path / "dist.err").read_text()
        assert code == 0, f"exit {code}\n{out[-3000:]}\n{err[-5000:]}"
        assert len(re.findall(r"^hazelcast\s+\d+", out, re.M)) >= 3 and re.search(r"^kafka\s+\d+", out, re.M), out
        assert "members: 3" in out, out
        # the demo's rows were loaded into the grid by `reader`; the user the shim signed up
        # went grid -> pump -> Kafka -> writer -> SQLite: grid and database agree
        users = re.search(r"^users\s+(\d+)\s+(\d+)\s+0\s+0\s+0$", out, re.M)
        assert users and users.group(1) == users.group(2) == "3", out
        assert re.search(r"^products\s+8\s+8\s+0\s+0\s+0$", out, re.M) and "\nconverged\n" in out, out
        assert "stopped 4 engine(s)" in out, out
        assert "signed up: 201" in err
        # unit, pump and writer answer readiness with one body shape
        health = [json.loads(line.split(" ", 2)[2]) for line in err.splitlines() if line.startswith("health ")]
        assert len(health) == 3 and all(set(h) == {"status", "checks"} and h["status"] == "ready" for h in health)
    finally:
        # whatever happened: nothing of this test keeps running (its background jobs share
        # the script's process group)
        try:
            os.killpg(script.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        subprocess.run(["bash", "-c", "spacegrid local down"], env=env, cwd=work, capture_output=True, timeout=120)
    print(f"distributed section: {time.monotonic() - started:.0f}s")
