"""app.core.group_commit: every item written once, none reported written before it is, errors
reach every caller of their batch, and callers that meet share a write."""

from __future__ import annotations

import threading

import pytest
from conftest import wait_until

from app.core.group_commit import GroupCommit


class Store:
    """Records batches; its first write blocks until released, so callers queue up behind it."""

    def __init__(self, failing_batch: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.release = threading.Event()
        self.entered = threading.Event()
        self.failing_batch = failing_batch

    def write(self, batch: list[int]) -> None:
        self.batches.append(batch)
        if len(self.batches) == 1:
            self.entered.set()
            self.release.wait(timeout=10)
        if len(self.batches) - 1 == self.failing_batch:
            raise ConnectionError("broker away")

    def written(self) -> list[int]:
        return sorted(item for batch in self.batches for item in batch)


def commit_all(group: GroupCommit[int], items: range, store: Store) -> dict[int, object]:
    """Commit item 0, then the rest while its write is in flight; each caller's outcome."""
    outcomes: dict[int, object] = {}

    def run(item: int) -> None:
        try:
            group.commit(item)
            outcomes[item] = item in store.written()  # written before commit returned
        except ConnectionError as error:
            outcomes[item] = error

    first = threading.Thread(target=run, args=(items[0],))
    first.start()
    assert store.entered.wait(timeout=10)
    others = [threading.Thread(target=run, args=(item,)) for item in items[1:]]
    for thread in others:
        thread.start()
    wait_until(lambda: len(group._queued) == len(others))  # all behind the first write
    store.release.set()
    for thread in [first, *others]:
        thread.join(timeout=10)
    return outcomes


def test_callers_that_meet_share_one_write_and_each_returns_once_written() -> None:
    store = Store()
    group: GroupCommit[int] = GroupCommit(store.write)
    outcomes = commit_all(group, range(20), store)
    assert store.batches == [[0], list(range(1, 20))]
    assert outcomes == dict.fromkeys(range(20), True)


def test_a_lone_caller_writes_at_once() -> None:
    batches: list[list[str]] = []
    group: GroupCommit[str] = GroupCommit(batches.append)
    group.commit("a")
    group.commit("b")
    assert batches == [["a"], ["b"]]


@pytest.mark.parametrize("failing_batch", [0, 1])
def test_a_failed_write_fails_each_of_its_callers_and_the_next_batch_is_written(
    failing_batch: int,
) -> None:
    store = Store(failing_batch)
    group: GroupCommit[int] = GroupCommit(store.write)
    outcomes = commit_all(group, range(5), store)
    failed = {item for item, outcome in outcomes.items() if isinstance(outcome, ConnectionError)}
    assert failed == set(store.batches[failing_batch])
    assert all(outcomes[item] is True for item in set(range(5)) - failed)
    group.commit(5)
    assert store.batches[-1] == [5]
