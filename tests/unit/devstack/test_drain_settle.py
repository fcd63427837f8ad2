"""The drain with the emulator's backlog route (``Emulator._settle``): it asks
no poller to look; it reads what each source holds, then the emulator's
backlogs in one request, and returns only when both show nothing and no
cycle ran in between; a source whose work waits is woken, alone."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from devstack.changes import QUEUES
from devstack.eventsources import Backlogs, Clock, DrainTimeout, Emulator, Faults, Source

QUEUE_URL = "http://127.0.0.1:4566/123456789012/work"
STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026"


class World:
    """The emulator's side: what a backlog request would answer."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.queue = [0, 0, 0]  # delayed, in flight, visible
        self.head = -1
        self.asked = 0

    def backlogs(self) -> Backlogs:
        with self.lock:
            self.asked += 1
            return Backlogs({"123456789012/work": list(self.queue)}, {"orders": {"s1": self.head}})


class Rt:
    def __init__(self, world: World | None) -> None:
        self.stopping = threading.Event()
        self.world = world
        # What the drain's answer (the stack's status) reads.
        self.deliveries: list[Any] = []
        self.failures: list[Any] = []
        self.faults, self.clock = Faults(), Clock()

    def backlogs(self) -> Backlogs | None:
        return self.world.backlogs() if self.world else None


class QueueSource(Source):
    """Delivers the queue's visible messages when it looks."""

    kind, wakes_on = "sqs", QUEUES

    def __init__(self, rt: Rt, world: World, slow: float = 0.0) -> None:
        super().__init__(rt, "work_step", lambda e, c: None)  # type: ignore[arg-type]
        self.world, self.slow, self.polls = world, slow, 0
        self.polled = threading.Condition()

    def wake_key(self) -> str:
        return "queue:work"

    def poll(self) -> bool:
        with self.polled:
            self.polls += 1
            self.polled.notify_all()
        with self.world.lock:
            found = self.world.queue[2]
            self.world.queue[2] = 0
            self.world.queue[1] += found  # received: in flight
        if not found:
            return False
        time.sleep(self.slow)  # the handler's own time (not a wait for async work)
        with self.world.lock:
            self.world.queue[1] -= found  # handled and deleted
        return True

    def pending(self, backlogs: Backlogs | None = None) -> str | None:
        counts = backlogs.queue(QUEUE_URL) if backlogs else None
        return f"queue holds {sum(counts)}" if counts and sum(counts) else None


class RelaySource(Source):
    kind, wakes_on = "dynamodb", "streams"

    def __init__(self, rt: Rt, world: World) -> None:
        super().__init__(rt, "relay", lambda e, c: None)  # type: ignore[arg-type]
        self.world, self.read_to, self.polls = world, -1, 0
        self.polled = threading.Condition()

    def wake_key(self) -> str:
        return "stream:orders"

    def mark(self) -> Any:
        return self.read_to

    def settled(self, mark: Any, backlogs: Backlogs) -> str | None:
        heads = backlogs.stream(STREAM_ARN) or {}
        return "unread records" if heads.get("s1", -1) > mark else None

    def poll(self) -> bool:
        with self.polled:
            self.polls += 1
            self.polled.notify_all()
        with self.world.lock:
            head = self.world.head
        if head <= self.read_to:
            return False
        self.read_to = head
        with self.world.lock:
            self.world.queue[2] += 1  # the relay's event reaches the queue
        return True


def running(*sources: Source, rt: Rt) -> Emulator:
    emulator = Emulator(rt=rt, sources=list(sources), wakeups=True)  # type: ignore[arg-type]
    emulator.start()
    return emulator


def settle_backoff(*sources: Any) -> None:
    """Until each source's poller is in a long backoff (each empty look
    doubles it: 0.05, 0.1, 0.2, 0.4, 0.8, then 1.6 s)."""
    for source in sources:
        with source.polled:
            assert source.polled.wait_for(lambda: source.polls >= 6, timeout=10)  # noqa: B023


def test_an_idle_stack_drains_with_one_backlog_request_and_no_poll() -> None:
    world = World()
    rt = Rt(world)
    queue, stream = QueueSource(rt, world), RelaySource(rt, world)
    emulator = running(queue, stream, rt=rt)
    try:
        settle_backoff(queue, stream)
        polls, asked = (queue.polls, stream.polls), world.asked
        emulator.drain(5)
        assert world.asked - asked == 1
        assert (queue.polls, stream.polls) == polls  # no poller was asked to look
    finally:
        emulator.stop()


def test_work_in_the_emulator_is_waited_for_and_the_source_it_waits_for_is_woken() -> None:
    world = World()
    rt = Rt(world)
    queue, stream = QueueSource(rt, world, slow=0.05), RelaySource(rt, world)
    emulator = running(queue, stream, rt=rt)
    try:
        settle_backoff(queue, stream)
        # A stream record no wake-up announced (the write's wake-up is late):
        # the drain sees it unread, wakes the relay, then the queue the relay fed.
        with world.lock:
            world.head = 7
        stream_polls = stream.polls
        started = time.monotonic()
        emulator.drain(5)
        assert time.monotonic() - started < 1.0  # woken, not left to a 1.6 s backoff
        assert stream.read_to == 7
        assert world.queue == [0, 0, 0]
        assert stream.polls > stream_polls
    finally:
        emulator.stop()


def test_a_message_in_flight_holds_the_drain_until_it_is_done_with() -> None:
    world = World()
    rt = Rt(world)
    queue = QueueSource(rt, world)
    emulator = running(queue, rt=rt)
    try:
        settle_backoff(queue)
        with world.lock:
            world.queue = [0, 1, 0]  # received by someone, not deleted
        with pytest.raises(DrainTimeout) as held:
            emulator.drain(0.3)
        assert held.value.pending == ["queue holds 1"]
        with world.lock:
            world.queue = [0, 0, 0]
        emulator.drain(5)
    finally:
        emulator.stop()


def test_without_the_route_every_source_looks_again() -> None:
    world = World()
    queue = QueueSource(Rt(None), world)
    emulator = running(queue, rt=Rt(None))
    try:
        settle_backoff(queue)
        polls = queue.polls
        emulator.drain(5)
        assert queue.polls > polls  # the drain of an in-process moto: a look each
    finally:
        emulator.stop()
