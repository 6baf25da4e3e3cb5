"""store.query_page with a filter: a page larger than the filter's read step (an
export's 2,500 records) is read a page at a time, not 100 items at a time."""

from __future__ import annotations

from typing import Any


def _seed(n: int) -> None:
    from chalicelib.store import table as store

    with store.table().batch_writer() as batch:
        for i in range(n):
            batch.put_item(Item={"PK": "PAGING", "SK": f"{i:05d}", "even": i % 2 == 0})


def _counting(monkeypatch: Any) -> list[int]:
    from chalicelib.store import table as store

    real, limits = store.table().query, []

    def query(**kwargs: Any) -> Any:
        limits.append(kwargs["Limit"])
        return real(**kwargs)

    monkeypatch.setattr(store.table(), "query", query)
    return limits


def test_a_large_filtered_page_reads_a_page_per_query(stack: None, monkeypatch: Any) -> None:
    from chalicelib.store import table as store

    _seed(1200)
    limits = _counting(monkeypatch)
    items, cursor = store.query_page("PAGING", limit=500, forward=True,
                                     item_filter=lambda item: bool(item["even"]))
    assert len(items) == 500 and cursor
    assert all(item["even"] for item in items)
    assert len(limits) <= 3 and min(limits) >= 500  # was 10 queries of 100, then a cut page


def test_a_small_filtered_page_keeps_its_read_step_and_budget(stack: None,
                                                              monkeypatch: Any) -> None:
    from chalicelib.store import table as store

    _seed(1200)
    limits = _counting(monkeypatch)
    items, cursor = store.query_page("PAGING", limit=20, forward=True,
                                     item_filter=lambda item: False)  # nothing passes
    assert items == [] and cursor  # the budget (1,000 items read) ends the page
    assert limits == [store.FILTER_READ_STEP] * 10
