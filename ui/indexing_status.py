"""The library's indexing status: counts, the background indexer's progress and rate, recent
failures with reasons; refreshed every few seconds while the indexer runs."""

from __future__ import annotations

from typing import Any

import streamlit as st

from searchapp.service import LibraryService

REFRESH_SECONDS = 2.0


@st.fragment(run_every=REFRESH_SECONDS)
def indexing_status(service: LibraryService) -> None:
    status = service.status()
    indexer: dict[str, Any] = status["indexer"]
    with st.expander(_headline(status, indexer), expanded=bool(indexer.get("running"))):
        cols = st.columns(4)
        cols[0].metric("Photos", status["files_ok"])
        cols[1].metric("Failed", status["files_failed"])
        cols[2].metric("Queue", indexer.get("queue_length") or 0)
        rate = indexer.get("rate")
        cols[3].metric("Rate", f"{rate:.1f}/s" if rate else "–")
        st.caption(f"Model: {status['model'] or 'none yet'} · data: {status['data_dir']}")
        if indexer.get("message"):
            st.caption(str(indexer["message"]))
        failures = indexer.get("recent_errors") or status["failed"][:20]
        if failures:
            st.markdown("**Recent failures**")
            st.dataframe(
                [{"path": f["path"], "reason": f["reason"]} for f in failures],
                hide_index=True,
                width="stretch",
            )


def _headline(status: dict[str, Any], indexer: dict[str, Any]) -> str:
    photos = status["files_ok"]
    if indexer.get("running"):
        queued = indexer.get("queue_length") or 0
        return f"Indexing: {indexer['state']} · {photos} photos · {queued} queued"
    return f"Indexed: {photos} photos · indexer {indexer['state']}"
