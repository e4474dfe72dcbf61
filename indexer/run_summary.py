"""An indexing run's summary bookkeeping: what each written batch adds to it, and how many of
the run's files were byte-identical copies."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from indexer.records import Batch
from searchapp.indexing import IndexSummary
from searchapp.store import EmbeddedFile, Store

log = logging.getLogger("indexer.pipeline")


def account_written(summary: IndexSummary, batch: Batch, embedded: Sequence[EmbeddedFile]) -> None:
    """Count a written batch in `summary` and log its failures and totals."""
    summary.embedded += len(embedded)
    summary.linked += len(batch.linked)
    summary.unchanged += len(batch.confirmed)
    for failure in batch.failed:
        log.warning("failed: %s: %s", failure.stat.path, failure.reason)
        summary.failed.append((failure.stat.path, failure.reason))
    log.info(
        "batch written: %d embedded, %d linked, %d failed",
        len(embedded),
        len(batch.linked),
        len(batch.failed),
    )


def duplicates_written(store: Store, written_contents: Counter[str]) -> int:
    """Byte-identical copies among this run's files: per content, the files written now,
    at most the library's files of it less one (a moved file is not a copy)."""
    from searchapp.store.image_facts import files_per_content

    held = files_per_content(store.engine, list(written_contents))
    return sum(
        min(written, held.get(digest, 0) - 1)
        for digest, written in written_contents.items()
        if held.get(digest, 0) > 1
    )
