"""A call's outgoing audio (the "player" stage of a call): frames queued by the event loop, sent on the
clock by one pacing thread for all calls, silence whenever there is nothing to say, the hangup frame last.

Asterisk hangs up an AudioSocket call after 2 s with no frame (../shared/ASTERISK.md), and a Rasa turn
can hold the event loop for a second or more, so the frames go out from a thread of their own.
"""
from __future__ import annotations

import asyncio
import collections
import os
import socket
import threading
import time

from speech.audio import FRAME_MS, first_voiced, silence, split_frames

from . import audiosocket as aso


class Pacer:
    """One thread that sends every call's next 20 ms frame on the clock.

    The event loop also runs the bot's turns, and a Rasa turn (a first TensorFlow call, a tracker
    write) can hold it for a second or more; if the frames went out from the loop, Asterisk's 2 s
    inactivity timer would hang up calls. From this thread the audio keeps its pace whatever the
    loop is doing, and one slow call cannot delay another's frames."""

    def __init__(self):
        self.players: set["Player"] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, player: "Player") -> None:
        with self._lock:
            self.players.add(player)
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="audio-pacer", daemon=True)
                self._thread.start()

    def remove(self, player: "Player") -> None:
        with self._lock:
            self.players.discard(player)

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            with self._lock:
                players = list(self.players)
            for p in players:
                if not p.tick():
                    self.remove(p)
            next_at += FRAME_MS / 1000
            delay = next_at - time.monotonic()
            if delay < -0.2:  # the machine stalled: carry on from now rather than burst
                next_at = time.monotonic()
                delay = 0
            time.sleep(max(0.0, delay))

    def stop(self) -> None:
        self._stop.set()


class Mark:
    """A place in a player's queue: `reached(time.monotonic())` is called, on the pacer's thread,
    as the frame after it is sent (how the reply latency's last gateway stage is timed)."""

    def __init__(self, reached):
        self.reached = reached


class Player:
    """One call's outgoing audio: frames queued by the loop, sent by the Pacer, silence when there
    is nothing to say, and the hangup frame last."""

    def __init__(self, writer: asyncio.StreamWriter, rate: int, pacer: Pacer):
        self.loop = asyncio.get_running_loop()
        self.rate = rate
        self.frames: collections.deque[bytes] = collections.deque()
        self.drained = asyncio.Event()
        self.drained.set()
        self.closed = False
        self.sent_audio = 0
        self.sent_silence = 0
        self._quiet = aso.audio_frame(silence(rate), rate)
        self._backlog = b""
        self._hangup: asyncio.Future | None = None
        sock = writer.get_extra_info("socket")
        # our own handle on the connection: the pacer thread writes, the loop only reads
        self._sock = socket.socket(fileno=os.dup(sock.fileno()))
        self._sock.setblocking(False)
        self.pacer = pacer
        pacer.add(self)

    def enqueue(self, pcm: bytes, on_voiced=None) -> bool:
        """Queue `pcm`; `on_voiced(at)`: called when its first voiced frame is sent (True: it has one)."""
        frames: list = split_frames(pcm, self.rate)
        at = first_voiced(frames) if on_voiced is not None else None
        if at is not None:
            frames.insert(at, Mark(on_voiced))
        if frames:
            self.drained.clear()
            self.frames.extend(frames)
        return at is not None

    def clear(self) -> None:
        self.frames.clear()
        self.drained.set()

    def _set_drained(self) -> None:
        if not self.frames:
            self.drained.set()

    def _send(self, data: bytes) -> bool:
        data = self._backlog + data
        try:
            n = self._sock.send(data)
        except BlockingIOError:
            n = 0
        except OSError:
            return False
        self._backlog = data[n:]
        return len(self._backlog) < 64 * 1024  # a peer that reads nothing for seconds is gone

    def tick(self) -> bool:
        """Send one frame (pacer thread); False when this player is finished."""
        if self.closed:
            self._close_socket()
            return False
        frame = self._next_frame()
        if frame is not None:
            ok = self._send(aso.audio_frame(frame, self.rate))
            self.sent_audio += 1
            if not self.frames:
                self.loop.call_soon_threadsafe(self._set_drained)
        elif self._hangup is not None:
            self._send(aso.hangup_frame())
            self.loop.call_soon_threadsafe(_resolve, self._hangup)
            self.closed = True
            self._close_socket()
            return False
        else:
            ok = self._send(self._quiet)
            self.sent_silence += 1
        if not ok:
            self.closed = True
            self._close_socket()
            if self._hangup is not None:
                self.loop.call_soon_threadsafe(_resolve, self._hangup)
            return False
        return True

    def _next_frame(self) -> bytes | None:
        while True:
            try:
                frame = self.frames.popleft()
            except IndexError:
                return None
            if not isinstance(frame, Mark):
                return frame
            frame.reached(time.monotonic())  # (the frame after it leaves in this tick)

    async def hang_up(self, timeout: float = 1.0) -> None:
        """Send the hangup frame after what is queued (nothing, normally) and stop."""
        self.frames.clear()
        self._hangup = self.loop.create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._hangup), timeout)
        except asyncio.TimeoutError:
            self.closed = True

    def close(self) -> None:
        self.closed = True

    def _close_socket(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass


def _resolve(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)
