"""`caption` and `ask`: captions and questions about photos with a vision-language model.

`--vlm-backend/--vlm-model/--vlm-url/--vlm-key` override the `SEARCHAPP_VLM_*` settings."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from searchapp.cli.options import JsonObjectOption, settings_of
from searchapp.cli.output import print_json
from searchapp.errors import SearchAppError

if TYPE_CHECKING:
    from searchapp.config import Settings
    from searchapp.service import LibraryService

VlmBackendOption = Annotated[
    str | None,
    typer.Option(
        "--vlm-backend",
        help="transformers (a local model) or openai (an OpenAI-compatible server such as "
        "Ollama). Default: SEARCHAPP_VLM_BACKEND, else transformers.",
    ),
]
VlmModelOption = Annotated[
    str | None,
    typer.Option(
        "--vlm-model",
        help="Hugging Face id or save_pretrained folder (transformers), or the server's model "
        "name (openai). Default: SEARCHAPP_VLM_MODEL.",
    ),
]
VlmUrlOption = Annotated[
    str | None,
    typer.Option("--vlm-url", help="Base URL of the server, e.g. http://localhost:11434/v1."),
]
VlmKeyOption = Annotated[
    str | None,
    typer.Option("--vlm-key", help="API key for the server (default: SEARCHAPP_VLM_KEY)."),
]


def vlm_settings(
    ctx: typer.Context,
    backend: str | None,
    model: str | None,
    url: str | None,
    key: str | None,
) -> Settings:
    from pydantic import SecretStr

    updates: dict[str, Any] = {"vlm_backend": backend, "vlm_model": model, "vlm_url": url}
    if key is not None:
        updates["vlm_key"] = SecretStr(key)
    settings = settings_of(ctx)
    return settings.model_copy(update={k: v for k, v in updates.items() if v is not None})


def open_vlm_service(settings: Settings) -> LibraryService:
    from searchapp.service import LibraryService

    return LibraryService(settings)


def caption(
    ctx: typer.Context,
    image: Annotated[Path | None, typer.Argument(help="The photo to describe.")] = None,
    all_photos: Annotated[
        bool, typer.Option("--all", help="Caption every indexed photo not yet captioned.")
    ] = False,
    folder: Annotated[
        Path | None,
        typer.Option("--folder", help="Caption the indexed photos under this folder."),
    ] = None,
    prompt: Annotated[
        str | None, typer.Option("--prompt", help="Default: SEARCHAPP_VLM_CAPTION_PROMPT.")
    ] = None,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Caption again even when a caption is stored.")
    ] = False,
    as_json: JsonObjectOption = False,
    vlm_backend: VlmBackendOption = None,
    vlm_model: VlmModelOption = None,
    vlm_url: VlmUrlOption = None,
    vlm_key: VlmKeyOption = None,
) -> None:
    """Describe a photo, or caption the library (--all) or a folder in the background.

    Captions of indexed photos are stored with the model and prompt, reused until either
    changes, and make `search --hybrid` find photos by the words in them."""
    settings = vlm_settings(ctx, vlm_backend, vlm_model, vlm_url, vlm_key)
    if (image is None) == (not all_photos and folder is None):
        raise SearchAppError("Give either a photo, or --all, or --folder DIR.")
    with open_vlm_service(settings) as service:
        vision = service.vision
        if image is not None:
            result = vision.caption(image, prompt, refresh)
            if as_json:
                print_json(result.as_dict())
            else:
                typer.echo(result.caption)
            return
        if folder is not None and not folder.is_dir():
            raise SearchAppError(f"No such folder: {folder}")
        if as_json:
            run = vision.caption_library(folder, prompt)
        else:
            from searchapp.cli.progress import counting_progress

            with counting_progress("Captioning", "photos/s") as update:
                run = vision.caption_library(folder, prompt, update)
        if as_json:
            print_json(run.as_dict())
        else:
            typer.echo(
                f"Captioned {run.captioned} photos in {run.seconds:.1f} s with {run.model}"
                + (f"; {run.unreadable} unreadable" if run.unreadable else "")
                + (f"; {run.remaining} still without a caption" if run.remaining else "")
                + "."
            )


def ask(
    ctx: typer.Context,
    image: Annotated[Path, typer.Argument(help="The photo to ask about.")],
    question: Annotated[str, typer.Argument(help="The question.")],
    chat: Annotated[
        bool,
        typer.Option("--chat", help="Keep asking: follow-up questions are read from stdin."),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {question, answer, model} as JSON.")
    ] = False,
    vlm_backend: VlmBackendOption = None,
    vlm_model: VlmModelOption = None,
    vlm_url: VlmUrlOption = None,
    vlm_key: VlmKeyOption = None,
) -> None:
    """Ask a question about a photo; the answer streams as the model writes it."""
    from searchapp.vlm.base import Turn

    settings = vlm_settings(ctx, vlm_backend, vlm_model, vlm_url, vlm_key)
    history: list[Turn] = []
    answers: list[dict[str, object]] = []
    with open_vlm_service(settings) as service:
        vision = service.vision
        while True:
            if as_json:
                result = vision.ask(image, question, history)
                answers.append(result.as_dict())
                answer = result.answer
            else:
                pieces = []
                for piece in vision.ask_stream(image, question, history):
                    pieces.append(piece)
                    sys.stdout.write(piece)
                    sys.stdout.flush()
                sys.stdout.write("\n")
                answer = "".join(pieces).strip()
            history += [Turn("user", question), Turn("assistant", answer)]
            if not chat:
                break
            line = sys.stdin.readline()
            if not line.strip():
                break
            question = line.strip()
    if as_json:
        print_json(answers[0] if len(answers) == 1 else answers)


def register(app: typer.Typer) -> None:
    app.command()(caption)
    app.command()(ask)
