"""The S3 backend: the state as an S3 object, locked by a conditional write of ``<key>.lock``.

Objects in the bucket (all written with server-side encryption unless ``encrypt = false``:
``AES256``, or ``aws:kms`` with ``kms_key_id``):

- ``<key>``          the state (a single PutObject: readers see the old or the new object);
- ``<key>.lock``     the lock: created with ``PutObject(IfNoneMatch="*")``, which fails when
                     the object exists, holding the holder's LockInfo (``Path`` = ``bucket/key``);
                     released by its holder only: GET, compare the ID, DELETE (``IfMatch`` the
                     ETag read, so a lock that changed hands in between is never deleted);
- ``<key>.backup``   the state before a run's first changing write, like the local backend's
                     ``.backup`` file, *unless the bucket has versioning enabled*: S3 then
                     keeps every previous version of ``<key>`` and a backup object would only
                     be another copy of the secrets. (One GetBucketVersioning call, made at
                     the first changing write of a run; if it is refused, the backup is written.)

The apply journal cannot be an S3 object (appending a line would rewrite the object); it is a
local file under the configuration directory's ``.meshprov/`` (see ``StateBackend``), and the
state is pushed to S3 during apply every 20 s, at the end, and at the first interrupt.

The number of S3 calls does not depend on the number of resources: a plan makes four (lock,
read, and the release's GET and DELETE).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from meshprov.aws import AwsError, Clients, call
from meshprov.state.core import StateBackend, id_mismatch
from meshprov.state.encryption import StateEncryption
from meshprov.state.lock import LockInfo, StateLockError, StateReleaseError, StateUnlockError
from meshprov.state.model import StateError

LOCK_SUFFIX = ".lock"
BACKUP_SUFFIX = ".backup"
_BUSY_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})
_NO_CONDITIONAL_DELETE = frozenset({"NotImplemented", "InvalidArgument", "InvalidRequest"})


class S3Objects:
    """The calls the backend makes on one bucket, with server-side encryption applied."""

    def __init__(
        self, clients: Clients, bucket: str, encrypt: bool = True, kms_key_id: str | None = None
    ):
        self.clients = clients
        self.bucket = bucket
        self.sse: dict[str, str] = {}
        if encrypt:
            self.sse = {"ServerSideEncryption": "aws:kms" if kms_key_id else "AES256"}
            if kms_key_id:
                self.sse["SSEKMSKeyId"] = kms_key_id

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def client(self) -> Any:
        return self.clients.client("s3")

    def get(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and ETag, None if there is no such key; raises AwsError."""
        try:
            response = call(self.client(), "get_object", Bucket=self.bucket, Key=key)
        except AwsError as exc:
            if exc.code in ("NoSuchKey", "404"):
                return None
            raise
        try:
            body = response["Body"].read()
        except Exception as exc:  # a connection cut mid-body
            raise AwsError(f"GetObject {self.url(key)}: reading the body failed: {exc}") from None
        return body, response.get("ETag", "")

    def put(self, key: str, data: bytes, **extra: str) -> dict:
        return call(
            self.client(),
            "put_object",
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType="application/json",
            **self.sse,
            **extra,
        )

    def delete(self, key: str, etag: str | None = None) -> None:
        """Delete ``key``; with ``etag``, only if the object still has it (else AwsError
        PreconditionFailed). Endpoints without conditional deletes get a plain DELETE."""
        if etag:
            try:
                call(self.client(), "delete_object", Bucket=self.bucket, Key=key, IfMatch=etag)
                return
            except AwsError as exc:
                if exc.code not in _NO_CONDITIONAL_DELETE:
                    raise
        call(self.client(), "delete_object", Bucket=self.bucket, Key=key)

    def versioning(self) -> str | None:
        """The bucket's versioning status ("Enabled", "Suspended"), None if never enabled."""
        return call(self.client(), "get_bucket_versioning", Bucket=self.bucket).get("Status")


def _missing_bucket(objects: S3Objects, exc: AwsError) -> str | None:
    if exc.code == "NoSuchBucket":
        return (
            f"The S3 bucket {objects.bucket} does not exist (or these credentials cannot see "
            "it). meshprov does not create buckets: create it, with versioning enabled, "
            "then run meshprov init."
        )
    return None


class S3Store:
    """The state object, and its ``.backup`` object unless the bucket keeps versions."""

    def __init__(self, objects: S3Objects, key: str):
        self.objects = objects
        self.key = key
        self.backup_key = key + BACKUP_SUFFIX
        self.location = objects.url(key)
        self._versioned: bool | None = None

    def load(self) -> bytes | None:
        try:
            found = self.objects.get(self.key)
        except AwsError as exc:
            raise StateError(
                _missing_bucket(self.objects, exc)
                or f"Cannot read the state {self.location}: {exc}",
                self.location,
            ) from None
        return None if found is None else found[0]

    def save(self, data: bytes) -> None:
        try:
            self.objects.put(self.key, data)
        except AwsError as exc:
            raise StateError(
                _missing_bucket(self.objects, exc)
                or f"Cannot write the state to {self.location}: {exc}",
                self.location,
            ) from None

    def save_backup(self, data: bytes) -> None:
        if self._versioned is None:
            try:
                self._versioned = self.objects.versioning() == "Enabled"
            except AwsError:
                self._versioned = False  # cannot tell: keep a backup to be safe
        if self._versioned:
            return
        try:
            self.objects.put(self.backup_key, data)
        except AwsError as exc:
            raise StateError(
                f"Cannot write the state backup {self.objects.url(self.backup_key)}: {exc}",
                self.location,
            ) from None

    notices: list[str] = []  # noqa: RUF012 - never appended to: S3 has no file modes

    def after_lock(self) -> None:
        pass


class S3Lock:
    """``<key>.lock``, created only if absent (``If-None-Match: *``), deleted by its holder."""

    def __init__(self, objects: S3Objects, key: str):
        self.objects = objects
        self.key = key + LOCK_SUFFIX
        self.info_path = f"{objects.bucket}/{key}"
        self.url = objects.url(self.key)

    def try_acquire(self, info: LockInfo) -> bool:
        try:
            self.objects.put(self.key, info.dumps(), IfNoneMatch="*")
        except AwsError as exc:
            if exc.code in _BUSY_CODES:
                # A retried PUT whose first attempt landed finds its own lock.
                holder = self.read_holder()
                return holder is not None and holder.ID == info.ID
            detail = (
                _missing_bucket(self.objects, exc) or f"Cannot write the lock {self.url}: {exc}"
            )
            raise StateLockError(detail) from None
        return True

    def read_holder(self) -> LockInfo | None:
        try:
            found = self.objects.get(self.key)
        except AwsError:
            return None
        return None if found is None else LockInfo.loads(found[0])

    def release(self, info: LockInfo) -> None:
        manual = (
            f"The lock {self.url} may still be there. Once S3 is reachable, check that no run "
            f"holds it and release it with:\n  meshprov force-unlock {info.ID}"
        )
        try:
            found = self.objects.get(self.key)
        except AwsError as exc:
            raise StateReleaseError(f"Cannot read the lock {self.url}: {exc}\n\n{manual}") from None
        if found is None:
            raise StateReleaseError(
                f"The lock {self.url} is gone: it was removed (force-unlock?) while this run "
                "held it, so another run may have changed the state meanwhile."
            )
        holder = LockInfo.loads(found[0])
        if holder is None or holder.ID != info.ID:
            raise StateReleaseError(
                f"The lock {self.url} is no longer this run's (lock ID {info.ID}): it was "
                "force-unlocked and taken by another run, which may have changed the state "
                "meanwhile.\n\n" + (holder.describe() if holder else "Lock Info: unreadable\n"),
                holder,
            )
        try:
            self.objects.delete(self.key, found[1])
        except AwsError as exc:
            raise StateReleaseError(
                f"Cannot delete the lock {self.url}: {exc}\n\n{manual}"
            ) from None

    def force_unlock(self, lock_id: str) -> None:
        try:
            found = self.objects.get(self.key)
        except AwsError as exc:
            raise StateUnlockError(
                _missing_bucket(self.objects, exc) or f"Cannot read the lock {self.url}: {exc}"
            ) from None
        if found is None:
            raise StateUnlockError(f"No lock to unlock: {self.url} does not exist.")
        holder = LockInfo.loads(found[0])
        if holder is None:
            raise StateUnlockError(
                f"No lock to unlock: {self.url} holds no lock info; if no run is using the "
                "state, delete the object by hand."
            )
        if lock_id != holder.ID:
            raise StateUnlockError(id_mismatch(lock_id, holder.ID), holder)
        try:
            self.objects.delete(self.key, found[1])
        except AwsError as exc:
            if exc.code in _BUSY_CODES:
                raise StateUnlockError(
                    f"The lock {self.url} changed while it was being removed; read the lock "
                    "error again for its new ID."
                ) from None
            raise StateUnlockError(f"Cannot delete the lock {self.url}: {exc}") from None


def journal_file_name(bucket: str, key: str) -> str:
    """The local journal's name for ``s3://bucket/key`` (readable, and unique by a hash)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{bucket}_{key}").strip("._")[:80]
    digest = hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()[:10]
    return f"s3-{safe}-{digest}.journal"


class S3Backend(StateBackend):
    """``backend "s3" { bucket, key, ... }``; the journal lives in ``work_dir`` (``.meshprov``)."""

    def __init__(
        self,
        bucket: str,
        key: str,
        *,
        clients: Clients,
        work_dir: Path,
        encrypt: bool = True,
        kms_key_id: str | None = None,
        encryption: StateEncryption | None = None,
    ):
        self.bucket = bucket
        self.key = key
        self.clients = clients
        self.objects = S3Objects(clients, bucket, encrypt, kms_key_id)
        store = S3Store(self.objects, key)
        locker = S3Lock(self.objects, key)
        self.lock_key = locker.key
        self.backup_key = store.backup_key
        super().__init__(
            store,
            locker,
            Path(work_dir) / journal_file_name(bucket, key),
            encryption=encryption,
            remote=True,
        )

    def versioning(self) -> str | None:
        """The bucket's versioning status; raises StateError (e.g. no such bucket)."""
        try:
            return self.objects.versioning()
        except AwsError as exc:
            raise StateError(
                _missing_bucket(self.objects, exc)
                or f"Cannot read the versioning of the S3 bucket {self.bucket}: {exc}",
                self.display,
            ) from None
