"""The `spacegrid` command agrees with itself: --version, descriptions on every leaf command,
--host/--port (or --url) wherever HTTP is served or reached, distinct default ports, exit
statuses stated in --help, one-line errors, `local` actions that say what they did."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from spacegrid.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parents[2]


def _spacegrid(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("SPACEGRID_")}
    full.update({"PYTHONPATH": str(ROOT), **(env or {})})
    return subprocess.run([sys.executable, "-m", "spacegrid.cli", *args], env=full, cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def _leaves(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return [(path, parser)]
    return [leaf for name, child in subs[0].choices.items() for leaf in _leaves(child, f"{path} {name}")]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_leaf_command_has_a_description(command: str) -> None:
    parser = build_parser(command)
    top = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for path, leaf in _leaves(top.choices[command], f"spacegrid {command}"):
        assert leaf.description, f"`{path} --help` has no description"


def test_version_and_help_state_what_the_exit_statuses_mean() -> None:
    version = _spacegrid("--version")
    assert version.returncode == 0 and version.stdout.startswith("spacegrid ")
    helped = _spacegrid("--help")
    assert "thin dispatcher" not in helped.stdout  # no code docstring
    assert "spacegrid demo" in helped.stdout
    flat = " ".join(helped.stdout.split())
    assert "2 bad usage or settings" in flat and "3 cluster, broker, database, port" in flat


@pytest.mark.parametrize("command,flags", [
    ("up", ("--host", "--port")), ("demo", ("--host", "--port")), ("unit", ("--host", "--port")),
    ("pump", ("--host", "--port")), ("writer", ("--host", "--port")), ("verify", ("--url",)),
])
def test_http_flags_wherever_http_is_served_or_reached(command: str, flags: tuple[str, ...]) -> None:
    helped = _spacegrid(command, "--help")
    assert helped.returncode == 0, helped.stderr
    for flag in flags:
        assert flag in helped.stdout, f"`spacegrid {command}` lacks {flag}"


def test_unit_pump_and_writer_default_to_distinct_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    from data_pump.settings import PumpSettings
    from data_writer.settings import WriterSettings
    from processing_unit.settings import UnitSettings

    monkeypatch.delenv("SPACEGRID_HTTP_PORT", raising=False)
    ports = [UnitSettings().http_port, PumpSettings().http_port, WriterSettings().http_port]
    assert ports == [8080, 8081, 8082]


def test_local_actions_say_what_they_did_with_nothing_running(tmp_path: Path) -> None:
    env = {"SPACEGRID_CACHE_DIR": str(tmp_path)}
    status = _spacegrid("local", "status", env=env)
    assert status.returncode == 0 and status.stdout.startswith("nothing runs"), status.stdout + status.stderr
    down = _spacegrid("local", "down", env=env)
    assert down.returncode == 0 and down.stdout.strip() == "nothing was running: nothing stopped"


def test_local_logs_lists_and_tails_the_engine_logs(tmp_path: Path) -> None:
    env = {"SPACEGRID_CACHE_DIR": str(tmp_path)}
    profile = tmp_path / "local" / "default"
    profile.mkdir(parents=True)
    (profile / "member-2.log").write_text("".join(f"line {i}\n" for i in range(10)))
    listed = _spacegrid("local", "logs", env=env)
    assert listed.stdout.split() == ["member", "2", str(profile / "member-2.log")]
    tail = _spacegrid("local", "logs", "member", "2", "-n", "3", env=env)
    assert tail.returncode == 0 and tail.stdout == "line 7\nline 8\nline 9\n"
    missing = _spacegrid("local", "logs", "kafka", env=env)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [("grid", "status"), ("grid", "status", "--json")])
def test_grid_status_without_a_cluster_is_one_line_and_exit_3(args: tuple[str, ...]) -> None:
    from tools.local.processes import free_ports

    env = {"SPACEGRID_HAZELCAST_MEMBERS": f"127.0.0.1:{free_ports(1)[0]}"}
    done = _spacegrid(*args, env=env, timeout=90)
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout == "" and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Hazelcast cluster" in done.stderr


@pytest.mark.parametrize("command", ["pump", "writer"])
def test_pump_and_writer_without_a_broker_are_one_line_and_exit_3(command: str, tmp_path: Path) -> None:
    from tools.local.processes import free_ports

    broker, http = free_ports(2)
    env = {"SPACEGRID_GRID": "hazelcast", "SPACEGRID_KAFKA_BOOTSTRAP": f"127.0.0.1:{broker}",
           "SPACEGRID_HTTP_PORT": str(http), "SPACEGRID_CACHE_DIR": str(tmp_path),
           "SPACEGRID_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    done = _spacegrid(command, env=env, timeout=120)
    assert done.returncode == 3, done.stderr[-2000:]
    plain = [line for line in done.stderr.splitlines() if not line.startswith("{")]  # JSON lines are logs
    assert plain == [f"spacegrid {command}: cannot reach the Kafka broker: " + plain[0].split(": ", 2)[2]], plain
    assert "Traceback" not in done.stderr
