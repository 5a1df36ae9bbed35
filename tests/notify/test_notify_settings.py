"""``[notify]`` in errand.toml: every mistake refused with one sentence naming the key; the
VAPID key made once, owner-only, and kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from errand.notify import NotifySettings, VapidKey


def test_a_full_table_is_read() -> None:
    settings = NotifySettings.from_config(
        {
            "notify": {
                "contact": "mailto:ana@example.com",
                "ntfy": "https://ntfy.sh/errand-7f3a",
                "web_push": True,
                "push_services": ["http://127.0.0.1:9000", "https://push.example"],
            }
        }
    )
    assert settings.contact == "mailto:ana@example.com"
    assert settings.ntfy == "https://ntfy.sh/errand-7f3a"
    assert settings.push_services == {"http://127.0.0.1:9000", "https://push.example"}


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ({"contact": "mailto:me@localhost"}, "Apple's push service drops"),
        ({"contact": "me@example.com"}, "notify.contact must be a mailto: address"),
        ({"contact": "http://example.com"}, "notify.contact must be a mailto: address"),
        ({"ntfy": "ntfy.sh/topic"}, "notify.ntfy must be a topic URL"),
        ({"ntfy": "https://ntfy.sh/"}, "notify.ntfy must be a topic URL"),
        ({"ntfy": "https://me:pw@ntfy.sh/t"}, "must not hold a user name"),
        ({"web_push": "yes"}, "notify.web_push must be true or false"),
        ({"push_services": ["http://push.example"]}, "http only on a loopback address"),
        ({"push_services": ["https://push.example/path"]}, "only scheme, host and port"),
        ({"push_services": "https://push.example"}, "must be a list of origins"),
        ({"topic": "x"}, "notify.topic is not a setting"),
    ],
)
def test_mistakes_are_refused_in_one_sentence(table: dict[str, object], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        NotifySettings.from_config({"notify": table})


def test_the_contact_defaults_to_the_https_address_only() -> None:
    settings = NotifySettings()
    assert settings.contact_for("https://pc.tail1234.ts.net") == "https://pc.tail1234.ts.net"
    assert settings.contact_for("https://tunnel.example:8443/errand") == "https://tunnel.example"
    assert settings.contact_for("http://127.0.0.1:8765") is None


def test_the_vapid_key_is_made_once_owner_only_and_kept(tmp_path: Path) -> None:
    first = VapidKey.load_or_create(tmp_path)
    assert (tmp_path / "vapid.pem").stat().st_mode & 0o777 == 0o600
    again = VapidKey.load_or_create(tmp_path)
    assert again.public_key == first.public_key and len(first.public_key) == 87
    (tmp_path / "vapid.pem").write_text("not a key", encoding="utf-8")
    with pytest.raises(ValueError, match="does not hold a P-256 private key; delete it"):
        VapidKey.load_or_create(tmp_path)
