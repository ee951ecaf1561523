"""Encrypting and decrypting a lake table's free-text columns, a whole column at a time.

Each value is sealed with its row's user's data key (libs.common.crypto: AES-256-GCM, the
row's `subject_key` as associated data), in the same `enc1:` format as `encrypt_text`. One
AES-GCM object per user per call, not per value: about a third less time per value.

Reading: a value whose user has no key any more (erased: the key was destroyed) comes back
null, and so does one that does not open with the key it should (a value moved to another
user's row). A value that is not encrypted (written before encryption, or a pulled record
with no known user) comes back as it is.
"""

from __future__ import annotations

import binascii
import os
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.ext.asyncio import AsyncConnection

from libs.common.crypto import NONCE_BYTES, PREFIX, DataKeys

# The encrypted string columns of each kind of lake table.
RAW_EVENTS_COLUMNS = ("body", "extras")
PULLED_COLUMNS = ("record",)
SUBJECT_COLUMN = "subject_key"

_NONCE_AND_TAG = NONCE_BYTES + 16  # the shortest sealed value: an empty text


def encrypt_values(
    values: Sequence[str | None], subjects: Sequence[str | None], keys: Mapping[str, bytes]
) -> list[str | None]:
    """Each value sealed with its subject's key; nulls, and values of a subject with no key
    (no subject), stay as they are: the caller decides whether such a row may land."""
    ciphers: dict[str, AESGCM] = {}
    out: list[str | None] = []
    for value, subject in zip(values, subjects, strict=True):
        if value is None or subject is None or (key := keys.get(subject)) is None:
            out.append(value)
            continue
        cipher = ciphers.get(subject)
        if cipher is None:
            cipher = ciphers[subject] = AESGCM(key)
        nonce = os.urandom(NONCE_BYTES)
        sealed = cipher.encrypt(nonce, value.encode(), subject.encode())
        out.append(PREFIX + binascii.b2a_base64(nonce + sealed, newline=False).decode())
    return out


def decrypt_column(
    values: pa.Array | pa.ChunkedArray,
    subjects: pa.Array | pa.ChunkedArray,
    keys: Mapping[str, bytes],
) -> pa.ChunkedArray:
    """A string column decrypted row by row with each row's subject's key."""
    return Decryptor(keys).column(values, subjects)


class Decryptor:
    """Opens sealed values with their row's subject's key, chunk by chunk (no copy of a
    whole column). Prefix tests, base64 (polars, in Rust) and the merge run on whole chunks;
    only AES-GCM runs per value in Python (`cryptography` holds the GIL, so threads would
    not help). One AES-GCM object per subject for the decryptor's life: a scan of many files
    holding thousands of users builds each once."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        self.keys = keys
        self._ciphers: dict[str, AESGCM | None] = {}

    def column(
        self, values: pa.Array | pa.ChunkedArray, subjects: pa.Array | pa.ChunkedArray
    ) -> pa.ChunkedArray:
        parts = [
            self._chunk(batch.column(0), batch.column(1))
            for batch in pa.table({"value": values, "subject": subjects}).to_batches()
        ]
        return pa.chunked_array(parts, pa.string())

    def _chunk(self, values: pa.Array, subjects: pa.Array) -> pa.Array:
        # Files rewritten by a Delta DELETE or MERGE hold string_view columns: read as string.
        values = values.cast(pa.string())
        codes_array = pc.dictionary_encode(subjects.cast(pa.string()))
        names = codes_array.dictionary.to_pylist()
        for name in names:
            if name not in self._ciphers:
                key = self.keys.get(name)
                self._ciphers[name] = AESGCM(key) if key is not None else None
        ciphers = [self._ciphers[n] for n in names]
        aads = [str(n).encode() for n in names]
        sealed = pc.fill_null(pc.starts_with(values, PREFIX), False)
        # Not base64 (a damaged value) decodes to null, and so comes back null, like a bad tag.
        raw = (
            pl.Series(pc.if_else(sealed, values, pa.scalar(None, pa.string())))
            .str.strip_prefix(PREFIX)
            .str.decode("base64", strict=False)
            .to_arrow()
            .cast(pa.large_binary())
        )
        data, offsets = _bytes_and_offsets(raw)
        out: list[bytes | None] = []
        add = out.append
        for i, code in enumerate(codes_array.indices.to_pylist()):
            start, end = offsets[i], offsets[i + 1]
            too_short = end - start < _NONCE_AND_TAG  # null, or damaged
            cipher = None if code is None or too_short else ciphers[code]
            if cipher is None:
                add(None)  # not encrypted (merged back below), or shredded: the key is gone
                continue
            nonce_end = start + NONCE_BYTES
            try:
                add(cipher.decrypt(data[start:nonce_end], data[nonce_end:end], aads[code]))
            except InvalidTag:
                add(None)  # not this user's value (moved to another row), or tampered with
        plain = pa.array(out, pa.binary()).cast(pa.string())
        return pc.if_else(sealed, plain, values)


def _bytes_and_offsets(column: pa.Array) -> tuple[bytes, list[int]]:
    """A large_binary array's data (one copy: slicing bytes is faster than a memoryview for
    `cryptography`) and its value offsets; a null's value is empty."""
    _, offsets_buffer, data_buffer = column.buffers()
    first = column.offset
    offsets = np.frombuffer(offsets_buffer, np.int64)[first : first + len(column) + 1]
    return (data_buffer.to_pybytes() if data_buffer is not None else b""), offsets.tolist()


def decrypt_table(
    table: pa.Table,
    keys: Mapping[str, bytes],
    columns: Iterable[str] = RAW_EVENTS_COLUMNS,
    *,
    subject_column: str = SUBJECT_COLUMN,
) -> pa.Table:
    """The table with `columns` (those it has) decrypted. Needs the subject column."""
    subjects = table.column(subject_column)
    for name in columns:
        index = table.schema.get_field_index(name)
        if index < 0:
            continue
        plain = decrypt_column(table.column(index), subjects, keys)
        table = table.set_column(index, pa.field(name, pa.string(), nullable=True), plain)
    return table


def subjects_in(table: pa.Table, subject_column: str = SUBJECT_COLUMN) -> list[str]:
    unique = pc.unique(table.column(subject_column).drop_null())
    return [str(s) for s in unique.to_pylist()]


async def keys_for(conn: AsyncConnection, table: pa.Table, data_keys: DataKeys) -> dict[str, bytes]:
    """The live keys of the table's users (never creates one)."""
    return await data_keys.for_subjects(conn, subjects_in(table))


async def read_decrypted(
    conn: AsyncConnection,
    table: pa.Table,
    data_keys: DataKeys,
    columns: Iterable[str] = RAW_EVENTS_COLUMNS,
) -> pa.Table:
    """A reader's one call: fetch the table's users' keys, then decrypt."""
    return decrypt_table(table, await keys_for(conn, table, data_keys), columns)
