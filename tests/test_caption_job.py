"""The caption job captions every indexed photo with a tiny LLaVA, stores what it wrote with the
model and prompt, redoes nothing on a second run, and resumes after being killed midway."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from searchapp.config import Settings
from searchapp.store import Store
from searchapp.vlm import Prompt, load_vlm
from searchapp.vlm.caption_job import CaptionJob
from searchapp.vlm.images import read_photo
from searchapp.vlm.transformers_backend import TransformersVlm
from tests.conftest import CliRunner, TinyModel
from tests.photos import make_photo


def vlm_settings(data_dir: Path, model: Path, **extra: object) -> Settings:
    return Settings(
        data_dir=data_dir,
        vlm_model=str(model),
        vlm_device="cpu",
        vlm_precision="fp32",
        vlm_max_new_tokens=6,
        vlm_batch_size=3,
        **extra,
    )


@pytest.fixture
def indexed(cli: CliRunner, tiny_model: TinyModel, photo_dir: Path) -> list[Path]:
    cli("index", str(photo_dir), *tiny_model.flags, "--no-tag")
    return sorted(photo_dir.rglob("*.jpg"))


def test_every_photo_gets_the_caption_the_model_gives_it(
    indexed: list[Path], data_dir: Path, tiny_llava: Path
) -> None:
    settings = vlm_settings(data_dir, tiny_llava)
    store = Store(settings.database_path)
    vlm = load_vlm(settings)
    seen: list[tuple[int, int]] = []

    run = CaptionJob(store, vlm, settings).run(
        progress=lambda done, total: seen.append((done, total))
    )

    assert (run.captioned, run.unreadable, run.remaining) == (len(indexed), 0, 0)
    assert seen[-1] == (len(indexed), len(indexed)) and len(seen) == 4
    for path in indexed[:3]:
        caption = store.captions.caption_of_file(str(path))
        assert caption is not None
        assert caption.model == f"transformers:{tiny_llava}"
        assert caption.prompt == settings.vlm_caption_prompt
        photo = read_photo(path, settings.vlm_image_side)
        assert caption.text == vlm.answer(Prompt((photo,), settings.vlm_caption_prompt), 6)


def test_a_second_run_redoes_nothing_until_the_prompt_changes(
    indexed: list[Path], data_dir: Path, tiny_llava: Path
) -> None:
    settings = vlm_settings(data_dir, tiny_llava)
    store = Store(settings.database_path)
    CaptionJob(store, load_vlm(settings), settings).run()
    fresh = load_vlm(settings)
    assert isinstance(fresh, TransformersVlm)

    again = CaptionJob(store, fresh, settings).run()
    assert again.captioned == 0 and fresh.resource.loads == 0
    new_prompt = CaptionJob(store, fresh, settings, prompt="What is in this photo?").run()

    assert new_prompt.captioned == len(indexed)
    caption = store.captions.caption_of_file(str(indexed[0]))
    assert caption is not None and caption.prompt == "What is in this photo?"


def test_a_folder_job_captions_only_that_folder(
    indexed: list[Path], data_dir: Path, tiny_llava: Path, photo_dir: Path
) -> None:
    settings = vlm_settings(data_dir, tiny_llava)
    store = Store(settings.database_path)

    run = CaptionJob(store, load_vlm(settings), settings).run(root=str(photo_dir / "trip"))

    trip = {str(p) for p in indexed if p.parent.name == "trip"}
    assert run.captioned == len(trip)
    assert {str(p) for p in indexed if store.captions.caption_of_file(str(p))} == trip


def test_a_photo_that_became_unreadable_is_skipped_and_the_rest_captioned(
    indexed: list[Path], data_dir: Path, tiny_llava: Path
) -> None:
    settings = vlm_settings(data_dir, tiny_llava)
    store = Store(settings.database_path)
    indexed[1].write_bytes(b"not a jpeg any more")

    run = CaptionJob(store, load_vlm(settings), settings).run()

    assert (run.captioned, run.unreadable, run.remaining) == (len(indexed) - 1, 1, 1)


def test_caption_all_killed_midway_resumes_without_redoing_finished_photos(
    cli: CliRunner, tiny_model: TinyModel, tmp_path: Path, data_dir: Path, tiny_llava: Path
) -> None:
    photos = tmp_path / "many"
    for i in range(16):
        make_photo(photos / f"p{i:02d}.jpg", seed=100 + i)
    cli("index", str(photos), *tiny_model.flags, "--no-tag")
    settings = vlm_settings(data_dir, tiny_llava)
    store = Store(settings.database_path)
    slow = {
        "SEARCHAPP_DATA_DIR": str(data_dir),
        "SEARCHAPP_VLM_MODEL": str(tiny_llava),
        "SEARCHAPP_VLM_DEVICE": "cpu",
        "SEARCHAPP_VLM_PRECISION": "fp32",
        "SEARCHAPP_VLM_MAX_NEW_TOKENS": "48",
        "SEARCHAPP_VLM_BATCH_SIZE": "1",
        "HF_HUB_OFFLINE": "1",
    }
    job = subprocess.Popen(
        [sys.executable, "-m", "searchapp", "caption", "--all", "--json"],
        env={**os.environ, **slow},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while store.captions.count() < 3 and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    job.send_signal(signal.SIGKILL)
    job.wait()
    before = {str(p): store.captions.caption_of_file(str(p)) for p in sorted(photos.glob("*.jpg"))}
    done_before = {path: c for path, c in before.items() if c is not None}
    assert 3 <= len(done_before) < 16

    run = CaptionJob(store, load_vlm(settings), settings).run()

    assert run.captioned == 16 - len(done_before) and run.remaining == 0
    for path, caption in done_before.items():
        assert store.captions.caption_of_file(path) == caption
