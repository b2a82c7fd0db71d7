"""The gateway's garbage collector (hotline/memory.py): what survives a full collection is frozen so
the next one walks only newer objects, and a thaw now and then reclaims cycles that died frozen."""
from __future__ import annotations

import gc
import weakref

import pytest

from hotline.memory import SurvivorFreezer


class Node:
    pass


@pytest.fixture
def freezer():
    now = [0.0]
    gc.collect()
    f = SurvivorFreezer(thaw_s=60, clock=lambda: now[0]).install()
    f.now = now
    yield f
    f.remove()
    gc.unfreeze()


def cycle() -> weakref.ref:
    node = Node()
    node.me = node
    return weakref.ref(node)


def test_a_full_collection_freezes_what_survived_it(freezer):
    alive = Node()
    alive.me = alive
    gc.collect()
    assert gc.is_tracked(alive)
    frozen = gc.get_freeze_count()
    assert frozen > 0
    assert not any(o is alive for o in gc.get_objects(generation=2))  # not walked by the next one
    young = cycle()  # garbage that was never frozen is collected as before
    gc.collect()
    assert young() is None
    assert freezer.figures.full_collections >= 2 and freezer.figures.longest_full_ms > 0


def test_a_cycle_that_dies_frozen_waits_for_the_thaw(freezer):
    node = Node()
    node.me = node
    probe = weakref.ref(node)
    gc.collect()  # node survives: frozen
    del node
    gc.collect()
    assert probe() is not None  # dead, but no full collection looks at it any more
    assert not freezer.thaw_if_due()  # the thaw comes once per thaw_s
    freezer.now[0] += 60
    assert freezer.thaw_if_due()
    assert probe() is None
    assert freezer.figures.thaws == 1 and freezer.figures.last_thaw_found >= 2  # the node and its dict
    assert gc.get_freeze_count() > 0  # frozen again after the walk
    assert not freezer.thaw_if_due()


def test_reference_counting_still_frees_frozen_objects(freezer):
    node = Node()
    probe = weakref.ref(node)
    gc.collect()
    del node
    assert probe() is None
