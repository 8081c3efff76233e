"""A consumer that runs beside its producer: the next frames render (on the GPU, or on other CPU cores)
while the previous ones are compressed, instead of each side waiting for the other.

`BackgroundConsumer(consume, depth)` calls `consume(item)` on its own thread for each item `put` in; at
most `depth` items wait in between, so memory stays bounded however long the video. An error on the
consumer's side comes out of the producer's next `put` (or the end of the `with`); an error on the
producer's side (Cancel included) stops the consumer without consuming what was left queued. Either way the
thread has ended when the `with` block is left, so the caller may close what the consumer writes to.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
_END = object()
POLL_SECONDS = 0.1


class BackgroundConsumer(Generic[T]):
    def __init__(self, consume: Callable[[T], None], depth: int = 2, name: str = "soundclip-consumer"):
        self._consume = consume
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> BackgroundConsumer[T]:
        self._thread.start()
        return self

    def put(self, item: T) -> None:
        """Hand `item` over, waiting while `depth` items are queued; raises what the consumer raised."""
        while True:
            self._raise_consumer_error()
            try:
                self._queue.put(item, timeout=POLL_SECONDS)
                return
            except queue.Full:
                continue

    def __exit__(self, kind, error, trace) -> None:
        if error is not None:
            self._stop.set()  # the producer failed: drop what is queued, end the thread
        while self._thread.is_alive():
            try:
                self._queue.put(_END, timeout=POLL_SECONDS)
                break
            except queue.Full:
                continue
        self._thread.join()
        if error is None:
            self._raise_consumer_error()

    def _raise_consumer_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _END or self._stop.is_set():
                return
            try:
                self._consume(item)
            except BaseException as error:  # handed to the producer's thread, which raises it
                self._error = error
                self._stop.set()
                return
