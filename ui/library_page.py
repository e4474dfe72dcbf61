"""Library management: the root folders (add, remove), a rescan, and tagging with an uploaded
vocabulary (a label file, one label per line)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from searchapp.errors import SearchAppError
from searchapp.service import IndexRequest, LibraryService
from searchapp.tagging.vocabulary import DEFAULT_VOCABULARY, LabelFileError, parse_labels


def library_page(service: LibraryService) -> None:
    st.subheader("Folders")
    roots, _ = service.roots()
    if not roots:
        st.caption("No folders yet: add the folder that holds your photos.")
    for root in roots:
        left, right = st.columns([5, 1])
        left.code(root, language=None)
        if right.button("Remove", key=f"remove-{root}", help="Forget this folder's photos"):
            _remove(service, root)
    with st.form("add_root", clear_on_submit=True, border=False):
        path = st.text_input("Add a folder", placeholder="/home/me/Pictures", key="new_root")
        if st.form_submit_button("Add folder") and path.strip():
            _add(service, path.strip())
    if st.button("Rescan", key="rescan", type="primary", disabled=not roots):
        _rescan(service, roots)
    st.subheader("Tagging vocabulary")
    _vocabulary(service)


def _add(service: LibraryService, path: str) -> None:
    try:
        if not Path(path).expanduser().is_dir():
            st.error(f"{path} is not a folder on this machine.")
            return
        root, added = service.add_root(Path(path))
    except SearchAppError as exc:
        st.error(str(exc))
        return
    if added:
        st.success(f"Added {root}. Press Rescan to index it.")
    else:
        st.info(f"{root} is already a folder of the library.")
    st.rerun()


def _remove(service: LibraryService, root: str) -> None:
    try:
        _, forgotten = service.remove_root(Path(root))
    except SearchAppError as exc:
        st.error(str(exc))
        return
    st.toast(f"Removed {root} ({forgotten or 0} photos forgotten).")
    st.rerun()


def _rescan(service: LibraryService, roots: list[str]) -> None:
    bar = st.progress(0.0, text="Scanning…")

    def progress(done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        bar.progress(min(1.0, fraction), text=f"Indexed {done} of {total}")

    try:
        report = service.index([Path(r) for r in roots], IndexRequest(), progress)
    except SearchAppError as exc:
        bar.empty()
        st.error(str(exc))
        return
    bar.empty()
    summary = report.summary
    st.success(
        f"Rescanned: {summary.embedded} new or changed, {summary.unchanged} unchanged, "
        f"{summary.removed} removed, {len(summary.failed)} failed."
    )
    for path, reason in summary.failed[:20]:
        st.caption(f"failed: {path}: {reason}")
    st.cache_data.clear()


def _vocabulary(service: LibraryService) -> None:
    upload = st.file_uploader(
        "Upload a label file (one label per line; the vocabulary is named after the file)",
        type=["txt"],
        key="vocabulary",
    )
    if upload is None or not st.button("Tag the library", key="run_vocabulary"):
        return
    bar = st.progress(0.0, text="Tagging…")

    def progress(done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=f"Tagged {done} of {total}")

    try:
        name = Path(upload.name).stem
        if name == DEFAULT_VOCABULARY:
            raise LabelFileError(
                f"'{name}' is the built-in vocabulary's name; rename {upload.name} "
                "(the vocabulary is named after the file)."
            )
        labels = parse_labels(
            upload.getvalue().decode("utf-8", errors="replace"), name, upload.name
        )
        report = service.tag(
            labels,
            source=upload.name,
            progress=progress,
        )
    except SearchAppError as exc:
        bar.empty()
        st.error(str(exc))
        return
    bar.empty()
    st.success(
        f"Vocabulary {labels.name!r}: {report.labels} labels, "
        f"{report.run.images} photos looked at, {report.run.tags} tags written."
    )
    st.cache_data.clear()
