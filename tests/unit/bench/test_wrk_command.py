"""wrk exits with "number of connections must be >= threads" when given more threads than
connections: the sequential figures of ``bench orders`` (1 connection) failed that way."""

from tools.bench.loadgen import wrk_command


def _flag(cmd: list[str], flag: str) -> str:
    return cmd[cmd.index(flag) + 1]


def test_one_connection_gets_one_thread() -> None:
    cmd = wrk_command("http://127.0.0.1:1", "s.lua", connections=1, seconds=2)
    assert (_flag(cmd, "-t"), _flag(cmd, "-c")) == ("1", "1")


def test_many_connections_keep_the_threads_asked_for() -> None:
    cmd = wrk_command("http://127.0.0.1:1", "s.lua", connections=16, seconds=2.5, threads=2)
    assert (_flag(cmd, "-t"), _flag(cmd, "-c"), _flag(cmd, "-d")) == ("2", "16", "2.5s")
