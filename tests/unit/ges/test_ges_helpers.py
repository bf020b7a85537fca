"""The GES client's pure helper: the graph path every URL starts with."""

from __future__ import annotations

import pytest

from ges_backup_export.ges.client import _graph_path

# --- _graph_path ------------------------------------------------------------------------------------


def test_graph_path_places_project_and_graph() -> None:
    assert _graph_path("0a1b2c3d", "movies") == "/v2/0a1b2c3d/graphs/movies"


@pytest.mark.parametrize(
    ("graph_id", "encoded"),
    [
        ("a/b", "a%2Fb"),
        ("a b", "a%20b"),
        ("a?b", "a%3Fb"),
        ("a#b", "a%23b"),
        ("a%2Fb", "a%252Fb"),
        ("a\nb", "a%0Ab"),
        ("gr\u0430ph", "gr%D0%B0ph"),
    ],
)
def test_graph_path_encodes_the_graph_id(graph_id: str, encoded: str) -> None:
    assert _graph_path("p", graph_id) == f"/v2/p/graphs/{encoded}"


def test_graph_path_encodes_the_project_id() -> None:
    assert _graph_path("p/../q", "g") == "/v2/p%2F..%2Fq/graphs/g"


def test_graph_path_keeps_id_characters_as_they_are() -> None:
    assert _graph_path("A-z_0", "G-1_x") == "/v2/A-z_0/graphs/G-1_x"
