"""Tables for notification channels: each device's Web Push subscription, and one delivery
row per notification and channel (a device's subscription, or ntfy).

A notification record (``automation.notifications``) is written in the transaction of the
change that causes it. The notifier then writes its deliveries and marks it dispatched in
one transaction, and records each delivery's outcome after sending: so a restart finds
every notification either not yet dispatched or with its deliveries pending or settled,
and sends nothing twice except a delivery whose outcome the crash kept from being written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Index, Integer, Row, String, Table, Text

from errand.store.schema import UtcDateTime, metadata

push_subscriptions = Table(
    "push_subscriptions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "device_id",
        String(32),
        ForeignKey("devices.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("endpoint", Text, nullable=False),
    Column("p256dh", String(200), nullable=False),
    Column("auth", String(64), nullable=False),
    Column("kinds", String(100), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

notification_deliveries = Table(
    "notification_deliveries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "notification_id",
        String(32),
        ForeignKey("notifications.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("channel", String(16), nullable=False),
    Column("subscription_id", String(32), nullable=True),
    Column("device_id", String(32), nullable=True),
    Column("state", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime, nullable=True),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Index("ix_notification_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
)


class Channel(StrEnum):
    WEB_PUSH = "webpush"
    NTFY = "ntfy"


class NotifyState(StrEnum):
    """Where one delivery is. Only ``pending`` is ever sent."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    """The app was open and visible on that device: it showed the news itself."""
    GONE = "gone"
    """The push service said the subscription no longer exists (404/410); it was removed."""
    DROPPED = "dropped"
    """Not sent: the subscription was removed (device revoked) or the news had gone stale."""


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    """A device's Web Push subscription: where to send (``endpoint``), the keys to encrypt
    for it, and the kinds of news it wants (``needs_you``, ``finished``, ``failed``)."""

    id: str
    device_id: str
    endpoint: str = field(repr=False)
    p256dh: str = field(repr=False)
    auth: str = field(repr=False)
    kinds: frozenset[str]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NotifyDeliveryRecord:
    """One notification's delivery through one channel (for Web Push: to one device)."""

    id: str
    notification_id: str
    channel: Channel
    subscription_id: str | None
    device_id: str | None
    state: NotifyState
    attempts: int
    next_attempt_at: datetime | None
    status_code: int | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None


def subscription_record(row: Row[tuple[object, ...]]) -> SubscriptionRecord:
    m = row._mapping
    return SubscriptionRecord(
        id=m["id"],
        device_id=m["device_id"],
        endpoint=m["endpoint"],
        p256dh=m["p256dh"],
        auth=m["auth"],
        kinds=frozenset(k for k in str(m["kinds"]).split(",") if k),
        created_at=m["created_at"],
    )


def notify_delivery_record(row: Row[tuple[object, ...]]) -> NotifyDeliveryRecord:
    m = row._mapping
    return NotifyDeliveryRecord(
        id=m["id"],
        notification_id=m["notification_id"],
        channel=Channel(m["channel"]),
        subscription_id=m["subscription_id"],
        device_id=m["device_id"],
        state=NotifyState(m["state"]),
        attempts=m["attempts"],
        next_attempt_at=m["next_attempt_at"],
        status_code=m["status_code"],
        error=m["error"],
        created_at=m["created_at"],
        finished_at=m["finished_at"],
    )
