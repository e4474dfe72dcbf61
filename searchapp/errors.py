"""Typed errors whose message tells the user what happened and what to do."""

from __future__ import annotations


class SearchAppError(Exception):
    """A failure a user can act on. `str(err)` is the one line the CLI prints."""

    exit_code = 1


class ModelNotFoundError(SearchAppError):
    """The model name, config or checkpoint does not exist."""


class WeightsUnavailableError(SearchAppError):
    """Weights are neither on disk nor reachable."""


class ModelMismatchError(SearchAppError):
    """The request names another model than the one the library was indexed with."""


class LibraryEmptyError(SearchAppError):
    """Nothing has been indexed yet."""


class InvalidImageError(SearchAppError):
    """A query image that cannot be read."""


class IndexerBusyError(SearchAppError):
    """Another indexer process is already writing this library."""


class NoRootsError(SearchAppError):
    """The background indexer was started with no folder to watch."""


class InvalidRootError(SearchAppError):
    """A library root that is not a readable folder."""


class DamagedLibraryError(SearchAppError):
    """The database or the vectors stored in it are damaged; `detail` says how, briefly."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail or message


class VectorBackendError(SearchAppError):
    """The vector backend is unknown, missing, unreachable or misconfigured."""


class VlmError(SearchAppError):
    """The vision-language model cannot answer; search keeps working without it."""


class VlmModelError(VlmError):
    """The VLM is missing, is not a vision-language model, or cannot load."""


class VlmEndpointError(VlmError):
    """The OpenAI-compatible endpoint is unreachable, refused the request or answered badly."""


class VlmTimeoutError(VlmError):
    """The VLM took longer than the configured timeout."""


class VlmOutOfMemoryError(VlmError):
    """The VLM does not fit in memory on the chosen device."""


class ReadOnlyLibraryError(SearchAppError):
    """A command that writes was given a library this process cannot write."""


class InvalidQueryError(SearchAppError):
    """A query, filter or search option that cannot be used as given."""


class PhotoNotFoundError(SearchAppError):
    """No indexed photo has that id (or path)."""


class StorageFullError(SearchAppError):
    """The disk holding the library is full."""


class StorageIOError(SearchAppError):
    """Reading or writing the library failed at the operating system (an I/O error)."""


class DatabaseUnavailableError(SearchAppError):
    """The PostgreSQL server cannot be reached, refuses us, or was lost for too long."""
