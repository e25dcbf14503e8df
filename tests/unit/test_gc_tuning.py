"""The worker's collector tuning: start-up's objects frozen, young collections far apart."""

import gc
from collections.abc import Iterator

import pytest

from streams.worker.gc_tuning import YOUNG_THRESHOLD, tune_for_batches


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_start_up_objects_are_frozen_and_the_older_generations_keep_their_ratios() -> None:
    _, middle, old = gc.get_threshold()
    made_at_start_up = [object() for _ in range(10)]
    tune_for_batches()
    assert gc.get_freeze_count() >= len(made_at_start_up)
    assert gc.get_threshold() == (YOUNG_THRESHOLD, middle, old)
