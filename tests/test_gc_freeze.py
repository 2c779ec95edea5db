"""The start-up heap is frozen out of the garbage collector once the actors run
(``bot.app.runner.freeze_start_up_heap``): a full collection then no longer walks it, and
garbage of start-up is collected first, never frozen."""

from __future__ import annotations

import gc
import weakref

import pytest

from bot.app.runner import freeze_start_up_heap


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the suite collects as usual


def test_objects_alive_at_start_up_leave_the_collected_generations(unfrozen):
    alive = [Node() for _ in range(2_000)]

    frozen = freeze_start_up_heap()

    assert frozen >= len(alive)
    tracked = {id(o) for o in gc.get_objects()}
    assert not any(id(node) in tracked for node in alive)


def test_garbage_of_start_up_is_collected_not_frozen(unfrozen):
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle only the collector can free
    gone = weakref.ref(a)
    del a, b

    freeze_start_up_heap()

    assert gone() is None


def test_what_is_allocated_after_the_freeze_is_still_collected(unfrozen):
    freeze_start_up_heap()
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b

    gc.collect()

    assert gone() is None
