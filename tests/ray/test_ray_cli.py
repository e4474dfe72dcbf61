"""`index --ray [ADDRESS]` on the command line: the bare flag, a cluster that does not answer,
a model the workers cannot load, and a base install that never imports Ray."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from searchapp.cli.options import fill_bare_options
from tests.conftest import CliRunner, TinyModel
from tests.ray.library_state import row_counts


def test_a_bare_ray_flag_means_a_local_ray_and_an_address_is_kept() -> None:
    assert fill_bare_options(["index", "p", "--ray"]) == ["index", "p", "--ray=local"]
    assert fill_bare_options(["index", "p", "--ray", "--no-tag"])[2] == "--ray=local"
    assert fill_bare_options(["index", "p", "--ray", "auto"]) == ["index", "p", "--ray", "auto"]
    assert fill_bare_options(["index", "p", "--ray=ray://h:10001"])[2] == "--ray=ray://h:10001"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_unreachable_ray_cluster_is_one_line_before_anything_starts(
    cli: CliRunner, photo_dir: Path, tiny_model: TinyModel, data_dir: Path, scheme: str
) -> None:
    pytest.importorskip("ray", reason="Ray is not installed (the [scale] extra)")
    address = f"{scheme}127.0.0.1:{closed_port()}"

    result = cli("index", str(photo_dir), *tiny_model.flags, "--ray", address, check=False)

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: Cannot reach the Ray cluster at {address} (Connection refused). Start the "
        "cluster (`ray start --head` on its head node), or check the address: `--ray "
        "ray://HEAD:10001` (Ray client), `--ray HEAD:6379`, or `--ray auto` on a node of the "
        "cluster; `--ray` alone starts a local Ray."
    ]
    assert not (data_dir / "library.sqlite3").exists() or "Indexed" not in result.stdout


def test_the_base_install_never_imports_ray() -> None:
    code = (
        "import sys\n"
        "import searchapp.cli.app, searchapp.service, indexer.pipeline\n"
        "from searchapp.indexing import index_runner\n"
        "index_runner('ray')\n"
        "print('ray' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_a_model_the_workers_cannot_load_is_its_own_line_and_stores_nothing(
    ray_cluster: ModuleType,
    cli: CliRunner,
    photo_dir: Path,
    tiny_model: TinyModel,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(tiny_model.checkpoint.read_bytes()[:4096])
    flags = ["--model-config", str(tiny_model.config_path), "--pretrained", str(damaged)]

    result = cli("index", str(photo_dir), *flags, "--no-tag", "--ray", check=False)

    assert result.returncode == 1
    *progress, line = result.stderr.strip().splitlines()
    assert line.startswith("Error: Could not load tiny-clip (local checkpoint): "), result.stderr
    assert all(bar.startswith("Indexing") for bar in progress), result.stderr
    assert row_counts(data_dir)["files"] == 0
