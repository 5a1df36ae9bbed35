"""Model names (``PROVIDER:MODEL``) resolve to the right adapter, endpoint and quirks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from errand.models import (
    LOCAL_SERVER_QUIRKS,
    AnthropicMessagesAdapter,
    InvalidScript,
    ModelRequest,
    ModelSettings,
    OpenAIChatAdapter,
    RetryPolicy,
    ScriptedModel,
    UnknownProvider,
    known_providers,
    resolve_model,
    user_text,
)
from fakes.anthropic_server import AnthropicFakeServer, FakeTurn
from fakes.collect import collect
from fakes.openai_server import OpenAIFakeServer

FAST = RetryPolicy(attempts=2, backoff_base=0.001, timeout=5.0)


def test_known_providers_are_the_documented_four() -> None:
    assert [p.name for p in known_providers()] == ["anthropic", "openai", "openai-compat", "script"]


@pytest.mark.parametrize("spec", ["", "anthropic", "anthropic:", ":model", "claude-3"])
def test_specs_without_provider_and_model_are_refused(spec: str) -> None:
    with pytest.raises(UnknownProvider, match="PROVIDER:MODEL"):
        resolve_model(spec)


def test_unknown_provider_names_the_known_ones() -> None:
    with pytest.raises(
        UnknownProvider, match=r"'gemini'.*anthropic, openai, openai-compat, script"
    ):
        resolve_model("gemini:pro")


def test_anthropic_honours_its_environment_variables() -> None:
    environ = {"ANTHROPIC_BASE_URL": "http://127.0.0.1:9/", "ANTHROPIC_API_KEY": "k"}

    adapter = resolve_model("anthropic:some-model", settings=ModelSettings(environ=environ))

    assert isinstance(adapter, AnthropicMessagesAdapter)
    assert adapter.model == "some-model"
    assert adapter.endpoint.base_url == "http://127.0.0.1:9/"
    assert adapter.endpoint.api_key == "k"


def test_openai_without_a_key_resolves_but_names_the_variable_to_set() -> None:
    adapter = resolve_model("openai:m", settings=ModelSettings(environ={}))

    assert isinstance(adapter, OpenAIChatAdapter)
    assert adapter.endpoint.api_key is None
    assert adapter.endpoint.key_hint == "OPENAI_API_KEY"
    assert adapter.endpoint.base_url == "https://api.openai.com/v1"


def test_openai_compat_defaults_to_a_local_server_with_a_placeholder_key() -> None:
    adapter = resolve_model("openai-compat:llama3.2", settings=ModelSettings(environ={}))

    assert isinstance(adapter, OpenAIChatAdapter)
    assert adapter.endpoint.base_url == "http://127.0.0.1:11434/v1"
    assert adapter.endpoint.api_key
    assert adapter.quirks == LOCAL_SERVER_QUIRKS


def test_openai_compat_base_url_setting_beats_the_environment() -> None:
    environ = {"ERRAND_OPENAI_COMPAT_BASE_URL": "http://127.0.0.1:8000/v1"}

    from_env = resolve_model("openai-compat:m", settings=ModelSettings(environ=environ))
    from_setting = resolve_model(
        "openai-compat:m",
        settings=ModelSettings(environ=environ, openai_compat_base_url="http://127.0.0.1:1234/v1"),
    )

    assert isinstance(from_env, OpenAIChatAdapter)
    assert isinstance(from_setting, OpenAIChatAdapter)
    assert from_env.endpoint.base_url == "http://127.0.0.1:8000/v1"
    assert from_setting.endpoint.base_url == "http://127.0.0.1:1234/v1"


def test_script_provider_loads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"turns": [{"text": "hi"}]}), encoding="utf-8")

    assert isinstance(resolve_model(f"script:{path}"), ScriptedModel)
    with pytest.raises(InvalidScript):
        resolve_model(f"script:{tmp_path / 'missing.json'}")


async def test_resolved_anthropic_model_talks_to_the_base_url_from_the_environment() -> None:
    with AnthropicFakeServer(api_key="env-key") as server:
        server.enqueue(FakeTurn(text="via env"))
        environ = {"ANTHROPIC_BASE_URL": server.origin, "ANTHROPIC_API_KEY": "env-key"}
        adapter = resolve_model(
            "anthropic:test-model", settings=ModelSettings(environ=environ, retry=FAST)
        )

        _, done = await collect(adapter, ModelRequest(system="", messages=(user_text("hi"),)))

    assert done.message.text == "via env"


async def test_resolved_openai_compat_model_talks_to_the_configured_server() -> None:
    with OpenAIFakeServer(api_key="errand-no-key", models=("llama3.2",)) as server:
        server.enqueue(FakeTurn(text="local"))
        settings = ModelSettings(
            environ={"ERRAND_OPENAI_COMPAT_BASE_URL": server.base_url}, retry=FAST
        )
        adapter = resolve_model("openai-compat:llama3.2", settings=settings)

        _, done = await collect(adapter, ModelRequest(system="", messages=(user_text("hi"),)))

    assert done.message.text == "local"
