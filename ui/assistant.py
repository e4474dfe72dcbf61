"""The selected photo's caption and a chat about it, when a vision-language model is
configured; a hint saying how to configure one otherwise."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from searchapp.errors import SearchAppError
from searchapp.service import LibraryService
from searchapp.service_status import PhotoDetails
from searchapp.vlm.base import Turn

VLM_HINT = (
    "Captions and questions about a photo need a vision-language model: set "
    "`SEARCHAPP_VLM_BACKEND=openai` and `SEARCHAPP_VLM_URL` to an OpenAI-compatible server "
    "(e.g. Ollama), or `SEARCHAPP_VLM_MODEL` to a local LLaVA-style model folder, then restart "
    "the UI."
)


def assistant_section(service: LibraryService, details: PhotoDetails) -> None:
    st.markdown("**Caption and questions**")
    vision = service.vision
    if not vision.configured():
        st.caption(VLM_HINT)
        return
    path = Path(details.path)
    captions: dict[int, str] = st.session_state.setdefault("captions", {})
    if details.id in captions:
        st.write(captions[details.id])
    elif st.button("Write a caption", key="caption"):
        try:
            with st.spinner("The vision-language model is looking at the photo…"):
                captions[details.id] = vision.caption(path).caption
        except SearchAppError as exc:
            st.error(str(exc))
            return
        st.write(captions[details.id])
    _chat(service, details.id, path)


def _chat(service: LibraryService, photo_id: int, path: Path) -> None:
    chats: dict[int, list[Turn]] = st.session_state.setdefault("chats", {})
    history = chats.setdefault(photo_id, [])
    for turn in history:
        st.chat_message(turn.role).write(turn.text)
    question = st.chat_input("Ask about this photo", key=f"ask-{photo_id}")
    if not question:
        return
    st.chat_message("user").write(question)
    try:
        stream = service.vision.ask_stream(path, question, tuple(history))
        answer = st.chat_message("assistant").write_stream(stream)
    except SearchAppError as exc:
        st.error(str(exc))
        return
    history.extend([Turn("user", question), Turn("assistant", str(answer))])
