"""docker-compose.scale.yml (PostgreSQL, Milvus standalone, a Ray head and workers) refers to
things that exist: CLI commands and options, settings, pyproject extras, the Ray client port the
index job connects to. `docker compose config` validates it too where Docker is installed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import tomllib
import yaml
from typer.main import get_command

from searchapp.cli.app import app
from searchapp.config import Settings
from tests.test_compose_file import COMPOSE, _docker_compose

ROOT = Path(__file__).parents[1]
SCALE = ROOT / "docker-compose.scale.yml"


def _services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(SCALE.read_text())["services"]
    return services


def test_the_scale_override_runs_postgres_milvus_and_a_ray_cluster_of_this_image() -> None:
    services = _services()
    assert {"postgres", "milvus", "ray-head", "ray-worker", "index-job"} <= set(services)
    for name in ("ray-head", "ray-worker", "index-job", "indexer", "api", "ui"):
        assert services[name]["image"] == "searchapp:scale", name
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for name in ("indexer", "api", "ui"):
        assert set(services[name]["build"]["args"]["EXTRAS"].split(",")) <= set(extras)
    assert any(d.startswith("ray[data]") for d in extras["scale"])


def test_the_index_job_connects_to_the_ray_client_port_of_the_head() -> None:
    services = _services()
    name, *args = services["index-job"]["command"]
    group: Any = get_command(app)
    params = group.commands[name].params
    options = {opt for p in params for opt in [*p.opts, *getattr(p, "secondary_opts", [])]}
    assert {a for a in args if a.startswith("--")} <= options
    address = args[args.index("--ray") + 1]
    head = services["ray-head"]["command"]
    assert address == f"ray://ray-head:{_flag(head, '--ray-client-server-port')}"
    assert _flag(services["ray-worker"]["command"], "--address") == (
        f"ray-head:{_flag(head, '--port')}"
    )


def _flag(command: list[str], name: str) -> str:
    (value,) = [arg.split("=", 1)[1] for arg in command if arg.startswith(name + "=")]
    return value


def test_every_setting_the_services_set_is_a_searchapp_setting() -> None:
    fields = {f"SEARCHAPP_{name.upper()}" for name in Settings.model_fields}
    for name, service in _services().items():
        env = service.get("environment", {})
        assert {k for k in env if k.startswith("SEARCHAPP_")} <= fields, name
    env = _services()["api"]["environment"]
    assert env["SEARCHAPP_VECTOR_BACKEND"] == "milvus"
    assert env["SEARCHAPP_DATABASE_URL"].startswith("postgresql+psycopg://")


def test_docker_compose_accepts_the_scale_override() -> None:
    compose = _docker_compose()
    if compose is None:
        pytest.skip("Docker Compose is not installed here; the YAML checks above still ran")
    env = {**os.environ, "SEARCHAPP_API_TOKEN": "t", "POSTGRES_PASSWORD": "p"}
    done = subprocess.run(
        [*compose, "-f", str(COMPOSE), "-f", str(SCALE), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
