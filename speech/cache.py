"""Prompt cache: synthesized audio kept in memory and on disk, keyed by voice, rate, speed and text,
so fixed prompts (the welcome, the menu, the survey) cost nothing after the first time, even after
a restart."""
from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from pathlib import Path


class PromptCache:
    def __init__(self, directory: Path | None, memory_bytes: int = 64 * 1024 * 1024):
        self.directory = Path(directory) if directory else None
        self.memory_bytes = memory_bytes
        self._mem: OrderedDict[str, bytes] = OrderedDict()
        self._size = 0
        self.hits = self.misses = 0

    @staticmethod
    def key(voice_id: str, rate: int, slow: bool, text: str) -> str:
        return hashlib.sha256(f"{voice_id}\0{rate}\0{int(slow)}\0{text}".encode()).hexdigest()

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / key[:2] / f"{key}.pcm"

    def get(self, key: str) -> bytes | None:
        pcm = self._mem.get(key)
        if pcm is not None:
            self._mem.move_to_end(key)
            self.hits += 1
            return pcm
        if self.directory is not None:
            try:
                pcm = self._path(key).read_bytes()
            except FileNotFoundError:
                pcm = None
            if pcm is not None:
                self._remember(key, pcm)
                self.hits += 1
                return pcm
        self.misses += 1
        return None

    def put(self, key: str, pcm: bytes) -> None:
        self._remember(key, pcm)
        if self.directory is not None:
            path = self._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.part")
            tmp.write_bytes(pcm)
            tmp.replace(path)  # atomic: a reader never sees half a prompt

    def _remember(self, key: str, pcm: bytes) -> None:
        if key in self._mem:
            return
        self._mem[key] = pcm
        self._size += len(pcm)
        while self._size > self.memory_bytes and self._mem:
            _, old = self._mem.popitem(last=False)
            self._size -= len(old)
