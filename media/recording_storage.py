"""Where sealed recordings lie: a local directory, or S3-compatible object storage.

Both hold only what `media.stream_aead` sealed; neither ever sees plaintext.
One `Protocol`, two adapters, chosen by `create_storage(settings)`; the S3
driver (aiobotocore) is imported only inside its adapter. A write goes to a
temporary name (locally) or a multipart upload (S3) and appears under its key
only on `commit`, so a reader never sees half an object.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

_KEY = re.compile(r"^[a-z0-9][a-z0-9/._-]{0,200}$")
S3_PART = 5 * 1024 * 1024
"""S3's smallest part (all but the last)."""


class StorageMissing(Exception):
    """No object under that key."""


def checked_key(key: str) -> str:
    if not _KEY.match(key) or ".." in key:
        raise ValueError("not a storage key")
    return key


class ObjectWriter(Protocol):
    async def write(self, data: bytes) -> None: ...
    async def commit(self) -> int: ...
    async def abort(self) -> None: ...


class RecordingStorage(Protocol):
    name: str

    async def writer(self, key: str) -> ObjectWriter: ...
    async def size(self, key: str) -> int: ...
    async def read(self, key: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of the object."""
        ...

    def stream(self, key: str) -> AsyncIterator[bytes]: ...
    async def delete(self, key: str) -> None: ...
    async def delete_older(self, prefix: str, before: datetime) -> list[str]:
        """Delete every object under `prefix` (and every unfinished write) last touched
        before `before` (the store's own wall-clock times); the keys deleted."""
        ...

    async def close(self) -> None: ...


# ------------------------------------------------------------------ local


class _LocalWriter:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._part = path.with_name(path.name + ".part")
        self._file: Any = None
        self._size = 0

    async def open(self) -> None:
        def _open() -> Any:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            return open(self._part, "wb")  # noqa: SIM115 - closed in commit/abort

        self._file = await asyncio.to_thread(_open)

    async def write(self, data: bytes) -> None:
        if data:
            await asyncio.to_thread(self._file.write, data)
            self._size += len(data)

    async def commit(self) -> int:
        def _commit() -> None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self._part, self._path)

        await asyncio.to_thread(_commit)
        return self._size

    async def abort(self) -> None:
        def _abort() -> None:
            self._file.close()
            with contextlib.suppress(FileNotFoundError):
                self._part.unlink()

        await asyncio.to_thread(_abort)


class LocalStorage:
    """A directory on this node (the default for one node)."""

    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / checked_key(key)

    async def writer(self, key: str) -> ObjectWriter:
        w = _LocalWriter(self.path(key))
        await w.open()
        return w

    async def size(self, key: str) -> int:
        try:
            return (await asyncio.to_thread(self.path(key).stat)).st_size
        except FileNotFoundError:
            raise StorageMissing(key) from None

    async def read(self, key: str, start: int, end: int) -> bytes:
        def _read() -> bytes:
            with open(self.path(key), "rb") as f:
                f.seek(start)
                return f.read(max(0, end - start))

        try:
            return await asyncio.to_thread(_read)
        except FileNotFoundError:
            raise StorageMissing(key) from None

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        total = await self.size(key)
        for offset in range(0, total, 1024 * 1024):
            yield await self.read(key, offset, min(total, offset + 1024 * 1024))

    async def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self.path(key).unlink)

    async def delete_older(self, prefix: str, before: datetime) -> list[str]:
        def _sweep() -> list[str]:
            top = self.path(prefix.rstrip("/"))
            if not top.is_dir():
                return []
            gone = []
            for found in sorted(top.rglob("*")):
                with contextlib.suppress(FileNotFoundError):
                    touched = datetime.fromtimestamp(found.stat().st_mtime, UTC)
                    if found.is_file() and touched < before:
                        found.unlink()
                        gone.append(str(found.relative_to(self.root)))
            for folder in sorted((d for d in top.rglob("*") if d.is_dir()), reverse=True):
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty
            return gone

        return await asyncio.to_thread(_sweep)

    async def close(self) -> None:
        return None


# ------------------------------------------------------------------ S3


class _S3Writer:
    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._buffer = bytearray()
        self._parts: list[dict[str, Any]] = []
        self._upload: str | None = None
        self._size = 0

    async def _flush(self, data: bytes) -> None:
        if self._upload is None:
            made = await self._client.create_multipart_upload(Bucket=self._bucket, Key=self._key)
            self._upload = made["UploadId"]
        number = len(self._parts) + 1
        part = await self._client.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload, PartNumber=number, Body=data
        )
        self._parts.append({"ETag": part["ETag"], "PartNumber": number})

    async def write(self, data: bytes) -> None:
        self._buffer += data
        self._size += len(data)
        while len(self._buffer) >= 2 * S3_PART:
            await self._flush(bytes(self._buffer[:S3_PART]))
            del self._buffer[:S3_PART]

    async def commit(self) -> int:
        if self._upload is None:
            await self._client.put_object(
                Bucket=self._bucket, Key=self._key, Body=bytes(self._buffer)
            )
        else:
            await self._flush(bytes(self._buffer))
            await self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload,
                MultipartUpload={"Parts": self._parts},
            )
        self._buffer.clear()
        return self._size

    async def abort(self) -> None:
        if self._upload is not None:
            await self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=self._upload
            )
        self._buffer.clear()


class S3Storage:
    """An S3-compatible bucket (MinIO, or a cloud's), shared by every node."""

    name = "s3"

    def __init__(self, client: Any, exit_stack: contextlib.AsyncExitStack, bucket: str) -> None:
        self._client = client
        self._stack = exit_stack
        self.bucket = bucket

    @classmethod
    async def open(
        cls,
        *,
        endpoint: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        region: str = "us-east-1",
        create_bucket: bool = False,
    ) -> S3Storage:
        options: dict[str, Any] = {
            "endpoint_url": endpoint,
            "region_name": region,
            "aws_access_key_id": access_key,
            "aws_secret_access_key": secret_key,
        }
        session = await asyncio.to_thread(_botocore_session, options)
        stack = contextlib.AsyncExitStack()
        client = await stack.enter_async_context(session.create_client("s3", **options))
        if create_bucket:
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                await client.create_bucket(Bucket=bucket)
        return cls(client, stack, bucket)

    async def writer(self, key: str) -> ObjectWriter:
        return _S3Writer(self._client, self.bucket, checked_key(key))

    async def size(self, key: str) -> int:
        try:
            head = await self._client.head_object(Bucket=self.bucket, Key=checked_key(key))
        except self._client.exceptions.ClientError as exc:
            if _missing(exc):
                raise StorageMissing(key) from None
            raise
        return int(head["ContentLength"])

    async def read(self, key: str, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        try:
            got = await self._client.get_object(
                Bucket=self.bucket, Key=checked_key(key), Range=f"bytes={start}-{end - 1}"
            )
        except self._client.exceptions.ClientError as exc:
            if _missing(exc):
                raise StorageMissing(key) from None
            raise
        async with got["Body"] as body:
            data: bytes = await body.read()
        return data

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        total = await self.size(key)
        for offset in range(0, total, S3_PART):
            yield await self.read(key, offset, min(total, offset + S3_PART))

    async def delete(self, key: str) -> None:
        await self._client.delete_object(Bucket=self.bucket, Key=checked_key(key))

    async def delete_older(self, prefix: str, before: datetime) -> list[str]:
        prefix = checked_key(prefix)
        gone = []
        more: dict[str, Any] = {}
        while True:  # page by page (botocore's paginator reads its model files on the loop)
            page = await self._client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, **more)
            for item in page.get("Contents", []):
                if item["LastModified"] < before:
                    await self._client.delete_object(Bucket=self.bucket, Key=item["Key"])
                    gone.append(item["Key"])
            if not page.get("IsTruncated"):
                break
            more = {"ContinuationToken": page["NextContinuationToken"]}
        # A writer that died mid-upload leaves parts that are no object yet.
        uploads = await self._client.list_multipart_uploads(Bucket=self.bucket, Prefix=prefix)
        for upload in uploads.get("Uploads", []):
            if upload["Initiated"] < before:
                await self._client.abort_multipart_upload(
                    Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )
                gone.append(upload["Key"] + " (unfinished)")
        return gone

    async def close(self) -> None:
        await self._stack.aclose()


def _botocore_session(options: dict[str, Any]) -> Any:
    """aiobotocore's session with everything an S3 client needs already read.

    botocore reads its data files (models, endpoints, defaults) with blocking
    calls the first time a client is made, and caches them on the session. So
    a first client is made and closed here, in a worker thread with its own
    loop, at start-up; the client the store keeps is then made from the caches.
    """
    from aiobotocore.session import get_session

    session = get_session()

    async def warm() -> None:
        async with session.create_client("s3", **options):
            pass

    asyncio.run(warm())
    return session


def _missing(exc: Any) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}


async def create_storage(
    *,
    kind: str,
    local_dir: Path,
    endpoint: str = "",
    bucket: str = "",
    access_key: str = "",
    secret_key: str = "",
) -> RecordingStorage:
    """`local` (a directory on this node) or `s3` (one bucket for every node)."""
    if kind == "local":
        return LocalStorage(local_dir)
    if kind == "s3":
        return await S3Storage.open(
            endpoint=endpoint, bucket=bucket, access_key=access_key, secret_key=secret_key
        )
    raise ValueError(f"unknown recording storage {kind!r}")
