"""The per-process CPU meter of ``bench compare``, on real processes: a busy one and an idle one."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.support.eventually import eventually
from tools.bench.process_cpu import CpuMeter, fixed, with_children

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="Linux /proc only")


def test_a_busy_process_shows_about_a_core_and_an_idle_one_none() -> None:
    # each says when it has started (the interpreter's start-up is not in the measurement)
    busy = subprocess.Popen([sys.executable, "-c", "print('up', flush=True)\nwhile True: pass"],
                            stdout=subprocess.PIPE, text=True)
    idle = subprocess.Popen([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert busy.stdout is not None and idle.stdout is not None
        assert busy.stdout.readline() == idle.stdout.readline() == "up\n"
        meter = CpuMeter({"busy": fixed(busy.pid), "idle": fixed(idle.pid), "gone": fixed(2**22 + 7)})
        before = meter.reading()
        time.sleep(1.0)
        used = CpuMeter.usage(before, meter.reading())
    finally:
        busy.kill()
        idle.kill()
        busy.wait()
        idle.wait()
    # a spinning process is on a core or waiting for one the whole time (2 shared cores)
    assert used["busy"].cores + used["busy"].waiting > 0.8
    assert used["busy"].cores > 0.2
    assert used["idle"].cores < 0.02
    assert used["gone"].cores == 0 and used["gone"].waiting == 0


def test_children_are_counted_with_their_parent() -> None:
    parent = subprocess.Popen([sys.executable, "-c",
                               "import subprocess, sys, time;"
                               "c = subprocess.Popen([sys.executable, '-c', 'while True: pass']);"
                               "time.sleep(60)"])
    try:
        family = with_children(parent.pid)

        def both() -> None:
            assert len(family()) == 2

        eventually(both, timeout=10, interval=0.05)
        meter = CpuMeter({"family": family, "parent only": fixed(parent.pid)})
        before = meter.reading()
        time.sleep(0.5)
        used = CpuMeter.usage(before, meter.reading())
    finally:
        for pid in with_children(parent.pid)()[1:]:
            os.kill(pid, 9)
        parent.kill()
        parent.wait()
    assert used["family"].cores > 0.2 > used["parent only"].cores
