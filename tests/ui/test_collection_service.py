"""The service calls behind the collection view: the 2-D map (PCA), browsing by tag, folders."""

from __future__ import annotations

import os

import numpy as np

from searchapp.config import Settings
from searchapp.library_map import folder_of, principal_plane
from searchapp.service import LibraryService
from tests.ui.conftest import UiLibrary


def test_the_map_plane_is_the_top_two_principal_components() -> None:
    rng = np.random.default_rng(7)
    vectors = (rng.normal(size=(200, 8)) * np.array([5, 3, 1, 1, 1, 1, 1, 1])).astype(np.float32)
    coords, explained = principal_plane(vectors)
    centred = vectors - vectors.mean(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(centred, rowvar=False))
    top = eigenvectors[:, ::-1][:, :2]
    assert np.allclose(np.abs(coords), np.abs(centred @ top), atol=1e-3)
    assert np.allclose(coords.var(axis=0, ddof=1), eigenvalues[::-1][:2], rtol=1e-4)
    assert np.isclose(explained[0], eigenvalues[-1] / eigenvalues.sum(), rtol=1e-4)


def test_the_map_has_every_photo_once_with_its_best_tag_and_folder(ui_library: UiLibrary) -> None:
    with LibraryService(Settings(data_dir=ui_library.data_dir)) as service:
        library_map = service.library_map()
        assert service.library_map() is library_map
        paths = {p.path for p in library_map.points}
        details = {p.photo_id: service.photo(p.photo_id) for p in library_map.points}
    assert len(library_map.points) == library_map.vectors == 15
    assert paths == {str(p) for p in ui_library.photos.rglob("*.jpg")}
    for point in library_map.points:
        tags = details[point.photo_id].tags
        assert point.tag == max(tags, key=lambda t: t.score).label
        assert point.folder == os.path.basename(os.path.dirname(point.path))


def test_a_folder_is_named_relative_to_its_root() -> None:
    roots = ["/photos", "/photos/2024"]
    assert folder_of("/photos/2024/trip/a.jpg", roots) == "trip"
    assert folder_of("/photos/2024/a.jpg", roots) == "2024"
    assert folder_of("/photos/x/a.jpg", roots) == "x"
    assert folder_of("/elsewhere/b/a.jpg", roots) == "b"


def test_browsing_a_tag_lists_its_photos_best_score_first(ui_library: UiLibrary) -> None:
    with LibraryService(Settings(data_dir=ui_library.data_dir)) as service:
        _, label, count = service.tag_counts()[-1]
        hits = service.photos_tagged(label)
        page = service.photos_tagged(label, limit=2, offset=1)
        scores = {
            h.id: next(t.score for t in service.photo(h.id).tags if t.label == label) for h in hits
        }
    assert len(hits) == count
    assert [h.score for h in hits] == sorted(scores.values(), reverse=True)
    assert all(np.isclose(h.score, scores[h.id]) for h in hits)
    assert [h.id for h in page] == [h.id for h in hits[1:3]]


def test_folders_are_those_holding_photos(ui_library: UiLibrary) -> None:
    with LibraryService(Settings(data_dir=ui_library.data_dir)) as service:
        assert service.folders() == [str(ui_library.photos), str(ui_library.photos / "trip")]
