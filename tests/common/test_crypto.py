"""libs.common.crypto and lake_crypto: per-user data keys (local and KMS master keys), values
bound to their user, erased users getting no key, and whole columns decrypted."""

from __future__ import annotations

import base64
import os
import uuid

import boto3
import pyarrow as pa
import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import text

from libs.common.crypto import (
    DataKeys,
    decrypt_text,
    encrypt_text,
    is_encrypted,
    new_key,
    seal,
    unseal,
)
from libs.common.db import get_engine
from libs.common.lake_crypto import decrypt_column, decrypt_table, encrypt_values
from libs.common.settings import CommonSettings


def subject() -> str:
    return uuid.uuid4().hex


async def tombstone(subject_key: str) -> None:
    async with get_engine().begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO consent.tombstones (subject_key, request_id, erased_at)"
                " VALUES (:s, :r, now())"
            ),
            {"s": subject_key, "r": str(uuid.uuid4())},
        )


def test_a_value_round_trips_and_is_bound_to_its_user() -> None:
    key, alice, bob = new_key(), subject(), subject()
    token = encrypt_text(key, "I slept badly again", aad=alice)
    assert is_encrypted(token) and "slept" not in token
    assert decrypt_text(key, token, aad=alice) == "I slept badly again"
    with pytest.raises(InvalidTag):  # moved to another user's row: refused
        decrypt_text(key, token, aad=bob)
    with pytest.raises(InvalidTag):
        decrypt_text(new_key(), token, aad=alice)
    assert unseal(key, seal(key, b"archive", b"x"), b"x") == b"archive"


async def exercise(keys: DataKeys) -> None:
    """What every provider must do: create once, find again, destroy, refuse the erased."""
    alice, erased = subject(), subject()
    await tombstone(erased)
    async with get_engine().begin() as conn:
        created = await keys.for_subjects(conn, [alice, erased], create=True)
    assert set(created) == {alice}  # no key for a tombstoned subject
    async with get_engine().connect() as conn:
        wrapped = await conn.scalar(
            text("SELECT wrapped FROM common.data_keys WHERE subject_key = :s"), {"s": alice}
        )
        assert wrapped is not None and created[alice] not in bytes(wrapped)  # stored wrapped
        assert (
            await conn.scalar(
                text("SELECT count(*) FROM common.data_keys WHERE subject_key = :s"), {"s": erased}
            )
            == 0
        )
        fresh = DataKeys(keys.settings)  # another process: no cache, unwraps from the table
        assert await fresh.for_subjects(conn, [alice]) == {alice: created[alice]}
    token = encrypt_text(created[alice], "hello", aad=alice)

    async with get_engine().begin() as conn:
        assert await keys.destroy(conn, alice)
    async with get_engine().connect() as conn:
        assert await keys.for_subjects(conn, [alice]) == {}
        assert await DataKeys(keys.settings).for_subjects(conn, [alice]) == {}
        assert not await conn.scalar(
            text("SELECT count(*) FROM common.data_keys WHERE subject_key = :s"), {"s": alice}
        )
    # a destroyed key leaves its values unreadable: the reader gets null
    table = pa.table({"subject_key": [alice], "body": [token]})
    assert decrypt_table(table, {}, ["body"])["body"].to_pylist() == [None]


async def test_local_provider(database: str) -> None:
    master = base64.b64encode(os.urandom(32)).decode()
    await exercise(DataKeys(CommonSettings(master_key=master)))  # type: ignore[arg-type]


def test_a_local_master_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        DataKeys(CommonSettings(master_key=base64.b64encode(b"short").decode()))  # type: ignore[arg-type]


async def test_kms_provider(database: str, s3_server: str) -> None:
    """moto serves KMS on the same endpoint as S3: keys wrapped by KMS Encrypt/Decrypt."""
    kms = boto3.client(
        "kms",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    key_id = kms.create_key(Description="mindlake test master key")["KeyMetadata"]["KeyId"]
    settings = CommonSettings(
        key_provider="aws-kms",
        kms_key_id=key_id,
        kms_endpoint_url=s3_server,
        s3_access_key_id="test",  # type: ignore[arg-type]
        s3_secret_access_key="test",  # type: ignore[arg-type]
    )
    keys = DataKeys(settings)
    assert keys.provider.name == "aws-kms"
    await exercise(keys)
    carol = subject()
    async with get_engine().begin() as conn:
        key = (await keys.for_subjects(conn, [carol], create=True))[carol]
        row = (
            await conn.execute(
                text("SELECT wrapped, provider FROM common.data_keys WHERE subject_key = :s"),
                {"s": carol},
            )
        ).one()
    assert row[1] == "aws-kms"
    assert kms.decrypt(CiphertextBlob=bytes(row[0]))["Plaintext"] == key  # KMS holds the master
    async with get_engine().begin() as conn:  # the session's other tests use the local master
        assert await keys.destroy(conn, carol)


def test_columns_decrypt_per_row_user() -> None:
    a, b, gone = subject(), subject(), subject()
    keys = {a: new_key(), b: new_key(), gone: new_key()}
    subjects = [a, b, gone, a, None]
    plain = ['{"text": "one"}', '{"text": "two"}', '{"text": "three"}', None, "no user"]
    sealed = encrypt_values(plain, subjects, keys)
    assert [is_encrypted(v) for v in sealed] == [True, True, True, False, False]
    table = pa.table({"subject_key": subjects, "body": sealed, "n": [1, 2, 3, 4, 5]})
    alive = {a: keys[a], b: keys[b]}  # `gone` was erased: its key destroyed
    opened = decrypt_table(table, alive, ["body", "absent"])
    assert opened["body"].to_pylist() == [
        '{"text": "one"}',
        '{"text": "two"}',
        None,
        None,
        "no user",
    ]
    assert opened["n"].to_pylist() == [1, 2, 3, 4, 5]
    # a value moved to another user's row does not open (associated data = subject_key)
    swapped = table.set_column(0, "subject_key", pa.array([b, a, gone, a, None]))
    assert decrypt_table(swapped, keys, ["body"])["body"].to_pylist()[:2] == [None, None]
    # the format is encrypt_text's: one decrypts the other
    assert decrypt_text(keys[a], sealed[0], aad=a) == '{"text": "one"}'  # type: ignore[arg-type]


def test_odd_sealed_values_decrypt_or_come_back_null() -> None:
    a = subject()
    keys = {a: new_key()}
    sealed = encrypt_values(["", "é ✓ 日本", "fine"], [a, a, a], keys)
    damaged = sealed[2][:-4] + "!!!!"  # type: ignore[index]  # not base64 any more
    column = pa.chunked_array(  # two chunks of string_view (as in a rewritten file)
        [pa.array(sealed[:2]), pa.array([damaged, "plain"])]
    ).cast(pa.string_view())
    subjects = pa.array([a, a, a, a])
    assert decrypt_column(column, subjects, keys).to_pylist() == ["", "é ✓ 日本", None, "plain"]
