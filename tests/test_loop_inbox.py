"""The loop-owning inbox: the actor thread runs its asyncio loop while it waits for mail."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pykka
import pytest

from actors.loop_inbox import LoopActor, LoopInbox


class Recorder(LoopActor):
    """Records, per message, which callbacks of its loop had already run."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []
        self.ran: list[str] = []
        self.loop_thread: int | None = None

    def on_receive(self, message: Any) -> Any:
        match message:
            case ("schedule", name, delay, event):
                self.loop.call_later(delay, self._fire, name, event)
            case ("soon", name):
                self.loop.call_soon(self.ran.append, name)
            case ("task", event):
                self.loop.create_task(self._coroutine(event))
            case "loop_thread":
                return self.loop_thread
            case "ran":
                return list(self.ran)
            case "seen":
                return list(self.seen)
            case _:
                self.seen.append((message, list(self.ran)))
        return None

    def _fire(self, name: str, event: threading.Event) -> None:
        self.loop_thread = threading.get_ident()
        self.ran.append(name)
        event.set()

    async def _coroutine(self, event: threading.Event) -> None:
        await asyncio.sleep(0.01)
        self.ran.append("task-done")
        event.set()


@pytest.fixture
def recorder() -> Iterator[pykka.ActorRef]:
    ref = Recorder.start()
    yield ref
    ref.stop(timeout=5)


def test_timer_fires_while_actor_waits_for_mail(recorder: pykka.ActorRef) -> None:
    # Arrange
    fired = threading.Event()
    # Act: nothing else is told, so only the loop run by get() can fire the timer
    recorder.tell(("schedule", "t1", 0.02, fired))
    # Assert
    assert fired.wait(timeout=5)
    assert recorder.ask("ran", timeout=5) == ["t1"]


def test_task_runs_to_completion_between_messages(recorder: pykka.ActorRef) -> None:
    done = threading.Event()
    recorder.tell(("task", done))
    assert done.wait(timeout=5)
    assert recorder.ask("ran", timeout=5) == ["task-done"]


def test_loop_callbacks_run_on_the_actor_thread(recorder: pykka.ActorRef) -> None:
    fired = threading.Event()
    recorder.tell(("schedule", "t", 0.0, fired))
    assert fired.wait(timeout=5)
    loop_thread = recorder.ask("loop_thread", timeout=5)
    assert loop_thread is not None
    assert loop_thread != threading.get_ident()


def test_waiting_mail_still_gives_the_loop_a_turn(recorder: pykka.ActorRef) -> None:
    # Arrange: a burst of mail behind a message that schedules a loop callback
    recorder.tell(("soon", "io"))
    for i in range(50):
        recorder.tell(i)
    # Act
    seen = recorder.ask("seen", timeout=5)
    # Assert: the callback ran before the very next message was handled
    assert [n for n, _ in seen] == list(range(50))
    assert seen[0][1] == ["io"]


def test_tells_from_many_threads_all_arrive(recorder: pykka.ActorRef) -> None:
    def send(base: int) -> None:
        for i in range(100):
            recorder.tell(base + i)

    threads = [threading.Thread(target=send, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    seen = recorder.ask("seen", timeout=5)
    assert sorted(n for n, _ in seen) == sorted(k * 1000 + i for k in range(4) for i in range(100))


def test_stop_closes_the_loop_and_later_puts_do_not_raise() -> None:
    ref = Recorder.start()
    inbox = ref.actor_inbox
    ref.stop(timeout=5)
    assert inbox.loop.is_closed()
    inbox.put("late")  # a straggler from another thread
    assert inbox.qsize() == 1


def test_close_cancels_pending_tasks() -> None:
    inbox = LoopInbox()
    task = inbox.loop.create_task(asyncio.sleep(60))
    inbox.close()
    assert task.cancelled()
    assert inbox.loop.is_closed()
