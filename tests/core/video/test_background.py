"""The video encoder's thread: frames render while the previous ones compress, memory stays bounded, and a
failure on either side stops both without leaving a file."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from soundclip_core.errors import Cancelled
from soundclip_core.video.background import BackgroundConsumer
from soundclip_core.video.writer import write_mp4


def test_the_next_item_is_produced_while_the_previous_one_is_consumed():
    second_produced, overlapped = threading.Event(), []

    def consume(item: int) -> None:
        if item == 1:  # without overlap the producer could not make item 2 before this returns
            overlapped.append(second_produced.wait(timeout=10))

    with BackgroundConsumer(consume, depth=2) as consumer:
        for item in (1, 2, 3):
            consumer.put(item)
            if item == 2:
                second_produced.set()
    assert overlapped == [True]


def test_at_most_depth_items_wait_between_the_two_sides():
    gate, queued = threading.Event(), []

    def consume(item: int) -> None:
        gate.wait(timeout=10)

    with BackgroundConsumer(consume, depth=2) as consumer:
        for item in range(6):
            if item == 3:  # one in the consumer's hands, two queued: the fourth put must wait
                waiter = threading.Thread(target=consumer.put, args=(item,))
                waiter.start()
                waiter.join(timeout=0.5)
                queued.append(waiter.is_alive())
                gate.set()
                waiter.join()
            else:
                consumer.put(item)
    assert queued == [True]


def test_a_consumer_error_reaches_the_producer_and_stops_the_thread():
    consumed = []

    def consume(item: int) -> None:
        consumed.append(item)
        if item == 2:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        with BackgroundConsumer(consume, depth=1) as consumer:
            for item in range(100):
                consumer.put(item)
    assert consumed == [0, 1, 2]  # nothing after the failure
    assert not any(t.name == "soundclip-consumer" for t in threading.enumerate())


def test_a_cancelled_video_leaves_no_file_and_no_thread(tmp_path):
    def batches():
        for i in range(5):
            if i == 3:
                raise Cancelled("cancelled at frame batch 3")
            yield torch.full((4, 32, 32, 3), 40 * i, dtype=torch.uint8)

    with pytest.raises(Cancelled):
        write_mp4(tmp_path / "v.mp4", batches(), 24.0)
    time.sleep(0.1)
    assert list(tmp_path.iterdir()) == []
    assert not any(t.name == "soundclip-x264" for t in threading.enumerate())
