"""docker-compose.yml, its GPU override and the Dockerfile refer to things that exist: commands
and options of this CLI, ports the services listen on, volumes, Dockerfile stages and build
arguments, pyproject extras. `docker compose config` validates them too where it is installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import tomllib
import yaml
from typer.main import get_command

from searchapp.cli.app import app

ROOT = Path(__file__).parents[1]
COMPOSE = ROOT / "docker-compose.yml"
GPU = ROOT / "docker-compose.gpu.yml"
DOCKERFILE = ROOT / "Dockerfile"


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def _options_of(command: str) -> set[str]:
    group: Any = get_command(app)
    return {opt for p in group.commands[command].params for opt in p.opts}


def test_the_services_run_commands_and_options_of_this_cli() -> None:
    services = _load(COMPOSE)["services"]
    assert set(services) == {"indexer", "api", "ui"}
    group: Any = get_command(app)
    for service in services.values():
        name, *args = service["command"]
        assert name in group.commands
        assert {a for a in args if a.startswith("--")} <= _options_of(name)


def test_each_service_has_a_healthcheck_on_the_port_it_listens_on() -> None:
    services = _load(COMPOSE)["services"]
    for name in ("api", "ui"):
        command = services[name]["command"]
        port = command[command.index("--port") + 1]
        check = " ".join(services[name]["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/" in check
        assert any(p.endswith(f":{port}:{port}") for p in services[name]["ports"])
    assert "/health'" in " ".join(services["api"]["healthcheck"]["test"])
    assert "/_stcore/health'" in " ".join(services["ui"]["healthcheck"]["test"])
    indexer_check = " ".join(services["indexer"]["healthcheck"]["test"])
    assert "'status', '--json'" in indexer_check and "--json" in _options_of("status")


def test_the_services_share_one_data_volume_and_read_the_photos_read_only() -> None:
    compose = _load(COMPOSE)
    for service in compose["services"].values():
        volumes = service["volumes"]
        assert "searchapp-data:/data" in volumes
        assert "./photos:/photos:ro" in volumes
        assert service["environment"]["SEARCHAPP_DATA_DIR"] == "/data"
    assert "searchapp-data" in compose["volumes"]
    assert compose["services"]["indexer"]["command"][1] == "/photos"


def _stages_and_args() -> tuple[set[str], set[str], list[str]]:
    text = DOCKERFILE.read_text()
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", text, re.M))
    args = set(re.findall(r"^ARG (\w+)", text, re.M))
    users = re.findall(r"^USER (\S+)$", text, re.M)
    return stages, args, users


def test_the_dockerfile_is_multi_stage_and_runs_as_a_user() -> None:
    stages, _, users = _stages_and_args()
    assert {"build", "runtime"} <= stages
    assert users and users[-1] not in ("root", "0")
    for service in _load(COMPOSE)["services"].values():
        assert service["build"]["target"] in stages


def test_the_gpu_override_reserves_a_gpu_and_builds_cuda_torch_and_faiss_gpu() -> None:
    _, args, _ = _stages_and_args()
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    services = _load(GPU)["services"]
    assert set(services) <= set(_load(COMPOSE)["services"])
    for service in services.values():
        build_args = service["build"]["args"]
        assert set(build_args) <= args
        assert "/whl/cu" in build_args["TORCH_INDEX_URL"]
        assert set(build_args["EXTRAS"].split(",")) <= set(extras)
        assert any(d.startswith("faiss-gpu") for d in extras["gpu"])
        (device,) = service["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
        assert service["environment"]["SEARCHAPP_DEVICE"] == "cuda"


def _docker_compose() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def test_docker_compose_accepts_both_files() -> None:
    compose = _docker_compose()
    if compose is None:
        pytest.skip("Docker Compose is not installed here; the YAML checks above still ran")
    env = {**os.environ, "SEARCHAPP_API_TOKEN": "test-token"}
    done = subprocess.run(
        [*compose, "-f", str(COMPOSE), "-f", str(GPU), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
