"""Notifications: telling the user, away from the app, that a task needs them or ended.

Public surface:

* :class:`Notifier` sends the store's notification records through the channels below;
  ``errand serve`` starts one (``build_notifier``) and closes it on shutdown;
* :class:`WebPushChannel` (VAPID-signed, RFC 8291-encrypted Web Push to each subscribed
  device) and :class:`NtfyChannel` (an ntfy topic URL from ``errand.toml``);
* :class:`VapidKey` is the gateway's signing key, whose public half phones subscribe with;
* :class:`Presence` knows which devices have the app open and visible (no push for them);
* :func:`check_push_endpoint` refuses push endpoints that are not a known push service;
* :class:`NotifySettings` is the checked ``[notify]`` table.

The records themselves are written by the store, in the transaction of the task status
change that causes them (see ``errand.store.automation.on_task_status``).
"""

from __future__ import annotations

from pathlib import Path

from errand.notify.channels import HEADINGS, NtfyChannel, PushMessage, Sent, WebPushChannel
from errand.notify.endpoints import EndpointRefused, check_push_endpoint
from errand.notify.notifier import KIND_OF_EVENT, KINDS, RETRY_DELAYS, Notifier
from errand.notify.presence import Presence
from errand.notify.settings import NotifySettings
from errand.notify.vapid import VapidKey
from errand.store import Store

__all__ = [
    "HEADINGS",
    "KINDS",
    "KIND_OF_EVENT",
    "RETRY_DELAYS",
    "EndpointRefused",
    "Notifier",
    "NotifySettings",
    "NtfyChannel",
    "Presence",
    "PushMessage",
    "Sent",
    "VapidKey",
    "WebPushChannel",
    "build_notifier",
    "check_push_endpoint",
]


def build_notifier(
    store: Store, settings: NotifySettings, *, data_dir: Path, base_url: str
) -> Notifier:
    """The notifier ``errand serve`` runs: Web Push unless turned off (its key made on
    first use in ``data_dir``), ntfy when a topic is configured."""
    web_push = (
        WebPushChannel(VapidKey.load_or_create(data_dir), subject=settings.contact_for(base_url))
        if settings.web_push
        else None
    )
    ntfy = NtfyChannel(settings.ntfy, base_url=base_url) if settings.ntfy else None
    return Notifier(store, web_push=web_push, ntfy=ntfy, push_services=settings.push_services)
