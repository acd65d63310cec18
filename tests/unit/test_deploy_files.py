"""compose.yaml and the HAProxy config: well-formed, and only settings the code knows."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from grid_config.settings import CommonSettings
from processing_unit.settings import UnitSettings

ROOT = Path(__file__).resolve().parents[2]


def _known_variables() -> set[str]:
    fields = set(CommonSettings.model_fields) | set(UnitSettings.model_fields)
    for module, cls in (("data_writer.settings", "WriterSettings"), ("data_pump.settings", "PumpSettings")):
        try:
            mod = __import__(module, fromlist=[cls])
            fields |= set(getattr(mod, cls).model_fields)
        except (ImportError, AttributeError):
            pass
    return {f"SPACEGRID_{f.upper()}" for f in fields}


def test_compose_services_use_only_known_settings() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    for required in ("hz1", "hz2", "hz3", "kafka", "sqlserver", "unit1", "lb", "pump", "writer", "reader"):
        assert required in services
    known = _known_variables()
    for name, service in services.items():
        env = service.get("environment") or {}
        unknown = {k for k in env if k.startswith("SPACEGRID_")} - known
        assert not unknown, f"{name} sets unknown settings {unknown}"
    commands = {s["command"][0] for s in services.values() if isinstance(s.get("command"), list)}
    from spacegrid.cli import COMMANDS

    assert commands <= set(COMMANDS)


def test_haproxy_config_is_valid(tmp_path: Path) -> None:
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (scripts/test installs it)")
    # compose's service names do not resolve here: check the same file with loopback servers
    cfg = (ROOT / "deploy" / "haproxy.cfg").read_text()
    for i in (1, 2, 3):
        cfg = cfg.replace(f"unit{i}:8080", f"127.0.0.1:{18080 + i}")
    path = tmp_path / "haproxy.cfg"
    path.write_text(cfg)
    proc = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
