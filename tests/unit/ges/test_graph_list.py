"""The graph list behind `"*"` (GesClient.list_graphs), on answers GES could give between pages."""

from __future__ import annotations

from typing import Any

import pytest

from ges_backup_export.core.deadline import Deadline
from ges_backup_export.core.errors import InvalidRequest
from ges_backup_export.ges.calls import LIST_PAGE_SIZE, MAX_LIST_PAGES
from ges_backup_export.ges.client import GesClient
from ges_backup_export.ges.http import BoundedSession
from tests.doubles import json_answer
from tests.tokens import StaticTokens


class ScriptedSession:
    """Stands in for requests.Session: answers each GET with the next page of the script."""

    def __init__(self, pages: list[dict[str, Any]]) -> None:
        self.pages = pages
        self.offsets: list[int] = []

    def request(self, method: str, url: str, **options: Any) -> Any:
        self.offsets.append(options["params"]["offset"])
        return json_answer(self.pages[len(self.offsets) - 1])


def listed(pages: list[dict[str, Any]]) -> tuple[list[str], list[int]]:
    session = ScriptedSession(pages)
    http = BoundedSession(session)  # type: ignore[arg-type]
    client = GesClient("https://ges.example.com", StaticTokens(), timeout=1.0, max_attempts=1, http=http)
    return client.list_graphs("p-1", Deadline(at=None)), session.offsets


def graphs(*ids: object) -> list[dict[str, Any]]:
    return [{"id": graph_id, "status": "200"} for graph_id in ids]


def test_pages_are_read_until_the_count_is_reached() -> None:
    first = [f"g{index}" for index in range(LIST_PAGE_SIZE)]
    ids, offsets = listed(
        [{"graph_count": 101, "graphs": graphs(*first)}, {"graph_count": 101, "graphs": graphs("last")}]
    )

    assert ids == [*first, "last"]
    assert offsets == [0, LIST_PAGE_SIZE]


def test_a_graph_that_moves_to_the_next_page_is_listed_once() -> None:
    ids, _ = listed(
        [{"graph_count": 3, "graphs": graphs("a", "b")}, {"graph_count": 3, "graphs": graphs("b", "c")}]
    )

    assert ids == ["a", "b", "c"]


def test_an_empty_page_ends_the_list_whatever_the_count_says() -> None:
    ids, offsets = listed([{"graph_count": 50, "graphs": graphs("a")}, {"graph_count": 50, "graphs": []}])

    assert (ids, offsets) == (["a"], [0, 1])


@pytest.mark.parametrize("answer", [{}, {"graph_count": 0, "graphs": []}, {"graphs": {"id": "a"}}])
def test_a_project_without_graphs_lists_none(answer: dict[str, Any]) -> None:
    assert listed([answer])[0] == []


def test_an_item_without_an_id_is_left_out_and_the_others_kept() -> None:
    ids, _ = listed([{"graph_count": 3, "graphs": [{"name": "no-id"}, *graphs("a", 42)]}])

    assert ids == ["a"]


def test_a_list_with_more_pages_than_the_client_reads_is_an_error_naming_it_never_cut_short() -> None:
    full_pages = [
        {"graph_count": 50_000, "graphs": graphs(*(f"g{page}-{index}" for index in range(LIST_PAGE_SIZE)))}
        for page in range(MAX_LIST_PAGES)
    ]

    with pytest.raises(InvalidRequest) as raised:
        listed(full_pages)

    assert raised.value.field == "graph_id"
    pages = f"{MAX_LIST_PAGES} pages of {LIST_PAGE_SIZE}"
    assert raised.value.message.startswith(
        f'graph_id: "*": the graph list of project p-1 has more than {pages}'
    )
