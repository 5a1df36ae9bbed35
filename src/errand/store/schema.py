"""What every table shares: the metadata, column types and the JSON codec.

Each area of the store (tasks, events, approvals ...) declares its own tables in its own
module against ``metadata`` here; a new area is a new module plus a new migration.
Types are portable: JSON lives in ``TEXT`` columns and times are stored in UTC, so the same
tables work on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import DateTime, MetaData
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from errand.store.errors import InvalidPayload
from errand.store.records import JsonInput, JsonInputObject, JsonObject

# Named constraints let later migrations alter them on both SQLite (batch mode) and PostgreSQL.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp stored as UTC; always read back aware, in UTC.

    SQLite keeps no zone, so values are normalised to UTC on the way in and tagged UTC on
    the way out; PostgreSQL stores ``timestamptz`` and gets the same values.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the store only accepts timezone-aware datetimes")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def encode_json(value: JsonInput, *, what: str) -> str:
    """Serialise ``value`` as compact JSON text.

    Raises:
        InvalidPayload: ``value`` holds something JSON cannot say (objects, NaN, non-string
            keys); ``what`` names the offending argument in the message.
    """
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidPayload(f"{what} must be plain JSON: {exc}") from exc


def canonical_json(value: JsonInputObject, *, what: str) -> str:
    """The one JSON spelling of ``value`` (sorted keys), used for digests."""
    try:
        return json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, sort_keys=True
        )
    except (TypeError, ValueError) as exc:
        raise InvalidPayload(f"{what} must be plain JSON: {exc}") from exc


def digest_of(value: JsonInputObject) -> str:
    """SHA-256 (hex) of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value, what="action").encode("utf-8")).hexdigest()


def decode_object(text: str) -> JsonObject:
    """Decode JSON text the store wrote; it is always an object."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise TypeError(f"stored JSON is a {type(value).__name__}, not an object")
    return cast(JsonObject, value)


def require_object(value: JsonInputObject, *, what: str) -> str:
    """Encode a JSON object argument, refusing anything but a mapping with string keys."""
    if not hasattr(value, "keys"):
        raise InvalidPayload(f"{what} must be a JSON object, not {type(value).__name__}")
    return encode_json(value, what=what)


def require_count(value: int, *, what: str) -> int:
    """A non-negative integer argument (token counts, step limits)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidPayload(f"{what} must be a non-negative integer, not {value!r}")
    return value
