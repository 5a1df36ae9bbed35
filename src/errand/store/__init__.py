"""Errand's store: tasks, their event logs and transcripts, approvals, questions, usage.

SQLite (WAL) by default, PostgreSQL by URL; the schema is migrated on open. Everything
here is the public surface; the modules behind it are private to the store.

    store = await open_store()          # $ERRAND_DATABASE_URL or <data dir>/errand.db
    task = await store.create_task("tidy my downloads", model="anthropic:claude-x")
    await store.append_event(task.id, "message.delta", {"text": "Looking..."})
    new = await store.wait_for_events(task.id, after_seq=1, timeout=30)
    await store.aclose()
"""

from errand.store.access import (
    AllowedFolderRecord,
    CodeState,
    DeviceRecord,
    PairingCodeRecord,
    TokenRecord,
)
from errand.store.access_store import (
    AccessStore,
    DeviceLimitReached,
    FolderNameTaken,
    IdempotencyKeyReused,
)
from errand.store.automation import (
    EVENT_NAMES,
    RUN_REF_PREFIX,
    AttemptRecord,
    DeliveryRecord,
    DeliveryState,
    EndpointRecord,
    HookReceipt,
    HookRecord,
    NotificationRecord,
    RunReason,
    RunState,
    ScheduleRecord,
    ScheduleRunRecord,
)
from errand.store.automation_store import (
    Advance,
    AttemptOutcome,
    AutomationStore,
    NameTaken,
    NewRun,
    NewSchedule,
)
from errand.store.database import DATABASE_URL_ENV, resolve_url, store_failure
from errand.store.errors import (
    AlreadyAnswered,
    AlreadyDecided,
    ApprovalExpired,
    ApprovalNotFound,
    DatabaseDamaged,
    DigestMismatch,
    InvalidPayload,
    InvalidTransition,
    QuestionNotFound,
    StoreClosed,
    StoreConfigError,
    StoreError,
    StoreFull,
    StoreUnavailable,
    TaskNotFound,
)
from errand.store.ids import looks_like_id, new_id
from errand.store.prune import PruneResult
from errand.store.push import Channel, NotifyDeliveryRecord, NotifyState, SubscriptionRecord
from errand.store.push_store import DeliveryOutcome, Dispatch, DueDelivery, NewDelivery, PushStore
from errand.store.records import (
    ALLOWED_TRANSITIONS,
    ApprovalRecord,
    ApprovalStatus,
    EventRecord,
    JsonInput,
    JsonInputObject,
    JsonObject,
    JsonValue,
    QuestionRecord,
    QuestionStatus,
    TaskRecord,
    TaskSource,
    TaskStatus,
    UsageRecord,
    UsageTotals,
)
from errand.store.store import Store, open_store

__all__ = [
    "ALLOWED_TRANSITIONS",
    "DATABASE_URL_ENV",
    "EVENT_NAMES",
    "RUN_REF_PREFIX",
    "AccessStore",
    "Advance",
    "AllowedFolderRecord",
    "AlreadyAnswered",
    "AlreadyDecided",
    "ApprovalExpired",
    "ApprovalNotFound",
    "ApprovalRecord",
    "ApprovalStatus",
    "AttemptOutcome",
    "AttemptRecord",
    "AutomationStore",
    "Channel",
    "CodeState",
    "DatabaseDamaged",
    "DeliveryOutcome",
    "DeliveryRecord",
    "DeliveryState",
    "DeviceLimitReached",
    "DeviceRecord",
    "DigestMismatch",
    "Dispatch",
    "DueDelivery",
    "EndpointRecord",
    "EventRecord",
    "FolderNameTaken",
    "HookReceipt",
    "HookRecord",
    "IdempotencyKeyReused",
    "InvalidPayload",
    "InvalidTransition",
    "JsonInput",
    "JsonInputObject",
    "JsonObject",
    "JsonValue",
    "NameTaken",
    "NewDelivery",
    "NewRun",
    "NewSchedule",
    "NotificationRecord",
    "NotifyDeliveryRecord",
    "NotifyState",
    "PairingCodeRecord",
    "PruneResult",
    "PushStore",
    "QuestionNotFound",
    "QuestionRecord",
    "QuestionStatus",
    "RunReason",
    "RunState",
    "ScheduleRecord",
    "ScheduleRunRecord",
    "Store",
    "StoreClosed",
    "StoreConfigError",
    "StoreError",
    "StoreFull",
    "StoreUnavailable",
    "SubscriptionRecord",
    "TaskNotFound",
    "TaskRecord",
    "TaskSource",
    "TaskStatus",
    "TokenRecord",
    "UsageRecord",
    "UsageTotals",
    "looks_like_id",
    "new_id",
    "open_store",
    "resolve_url",
    "store_failure",
]
