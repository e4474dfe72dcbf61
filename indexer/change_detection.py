"""Change detection: which scanned files must be read, which cannot be, and which are gone.

A file whose size, mtime, ctime and inode are as indexed (and that is embedded, or failed as it
is) is left alone unless every file must be read again (`read_all`: verify or re-embed).
"""

from __future__ import annotations

from collections.abc import Sequence

from indexer.ignore import IgnoreRules
from indexer.scan import SkippedFolder, SkippedFormat, Unreadable, scan
from searchapp.indexing import IndexSummary
from searchapp.store import FailedFile, Store
from searchapp.store.records import FileStat

Changes = tuple[list[FileStat], list[FailedFile], list[str]]


def find_changes(
    store: Store,
    model_id: int,
    roots: Sequence[str],
    ignore: IgnoreRules | None,
    read_all: bool,
    summary: IndexSummary,
) -> tuple[Changes, dict[str, str | None]]:
    """What must be read: new, modified and not-yet-embedded files; and what is gone. Also the
    content hash known for each indexed path. Counts scanned, unchanged and skipped files in
    `summary`."""
    known = store.known_files(roots, model_id)
    known_hashes = {path: file.content_hash for path, file in known.items()}
    todo: list[FileStat] = []
    unreadable: list[FailedFile] = []
    seen: set[str] = set()
    skipped: list[str] = []
    for entry in scan(roots, ignore):
        if isinstance(entry, SkippedFormat):
            earlier = summary.skipped_formats.get(entry.extension, {}).get("count", 0)
            count = earlier + 1 if isinstance(earlier, int) else 1
            summary.skipped_formats[entry.extension] = {"count": count, "needs": entry.needs}
            continue
        if isinstance(entry, SkippedFolder):
            skipped.append(entry.path.rstrip("/") + "/")
            continue
        summary.scanned += 1
        seen.add(entry.path)
        previous = known.get(entry.path)
        if isinstance(entry, Unreadable):
            if previous is None or previous.status != "failed":
                unreadable.append(FailedFile(FileStat(entry.path, 0, 0), entry.reason))
            else:
                summary.unchanged += 1
            continue
        if (
            not read_all
            and previous is not None
            and previous.matches(entry)
            and (previous.status == "failed" or previous.embedded)
        ):
            summary.unchanged += 1
            continue
        todo.append(entry)
    gone = [
        path
        for path in known
        if path not in seen and not any(path.startswith(folder) for folder in skipped)
    ]
    summary.skipped_folders = [folder.rstrip("/") for folder in skipped]
    return (todo, unreadable, gone), known_hashes
