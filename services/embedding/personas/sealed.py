"""Lake objects sealed with a user's data key, written and read a frame at a time.

An upload can be hundreds of megabytes, so it is never sealed in one piece: each frame of up
to FRAME_BYTES is AES-256-GCM with its own nonce, and its associated data binds the object
(`aad`: the subject key and the object's id), the frame's index and whether it is the last.
Frames cannot be reordered, moved to another object or user, dropped or cut off the end
without the read failing. Destroying the user's key (erasure) makes every frame unreadable.

Layout: MAGIC, then per frame: flag (1 byte: 1 on the last), length (4 bytes), nonce|ct|tag.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

import pyarrow as pa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from libs.common.crypto import NONCE_BYTES

MAGIC = b"MLSEAL1\n"
FRAME_BYTES = 1 << 20
_HEADER = struct.Struct(">BI")


class SealedError(Exception):
    """The object is not a sealed object of this user, or was altered or cut short."""


def _aad(aad: str, index: int, last: bool) -> bytes:
    return f"{aad}|{index}|{int(last)}".encode()


class SealedWriter:
    """Buffers plaintext and writes whole frames; `close()` writes the last frame."""

    def __init__(self, out: pa.NativeFile, key: bytes, aad: str) -> None:
        self._out, self._cipher, self._aad = out, AESGCM(key), aad
        self._buffer = bytearray()
        self._index = 0
        self._out.write(MAGIC)

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) > FRAME_BYTES:  # keep something back for the last frame
            self._frame(bytes(self._buffer[:FRAME_BYTES]), last=False)
            del self._buffer[:FRAME_BYTES]

    def close(self) -> None:
        self._frame(bytes(self._buffer), last=True)
        self._buffer.clear()
        self._out.close()

    def _frame(self, plain: bytes, *, last: bool) -> None:
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + self._cipher.encrypt(nonce, plain, _aad(self._aad, self._index, last))
        self._out.write(_HEADER.pack(int(last), len(sealed)) + sealed)
        self._index += 1


def _read_exactly(src: pa.NativeFile, n: int) -> bytes:
    data: bytes = src.read(n)
    if len(data) != n:
        raise SealedError("the object is cut short")
    return data


def read_sealed(src: pa.NativeFile, key: bytes, aad: str) -> Iterator[bytes]:
    """The plaintext, a frame at a time; raises SealedError on anything not intact."""
    if src.read(len(MAGIC)) != MAGIC:
        raise SealedError("not a sealed object")
    cipher = AESGCM(key)
    index = 0
    while True:
        flag, length = _HEADER.unpack(_read_exactly(src, _HEADER.size))
        if flag not in (0, 1) or length < NONCE_BYTES + 16 or length > FRAME_BYTES + 64:
            raise SealedError("a frame header is damaged")
        sealed = _read_exactly(src, length)
        last = flag == 1
        try:
            plain = cipher.decrypt(
                sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _aad(aad, index, last)
            )
        except Exception as exc:  # InvalidTag: another key, object or order
            raise SealedError("a frame does not open with this user's key") from exc
        yield plain
        if last:
            if src.read(1):
                raise SealedError("data after the last frame")
            return
        index += 1
