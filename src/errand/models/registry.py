"""Turning a model name (``PROVIDER:MODEL``) into a ready `ModelAdapter`.

Providers are an endpoint plus a wire dialect plus declared quirks; adding a provider that
speaks an existing dialect is one entry in `_PROVIDERS`, not a new adapter.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from errand.models.endpoints import anthropic_endpoint, openai_compat_endpoint, openai_endpoint
from errand.models.retry import RetryPolicy
from errand.models.scripted_model import ScriptedModel
from errand.models.types import ModelAdapter


class UnknownProvider(ValueError):
    """A model name that does not parse as ``PROVIDER:MODEL`` with a known provider."""


@dataclass(frozen=True)
class ModelSettings:
    """Settings that shape model adapters.

    `openai_compat_base_url` overrides ERRAND_OPENAI_COMPAT_BASE_URL. `environ` is where
    keys and base URLs are read from (the process environment when None).
    """

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    openai_compat_base_url: str | None = None
    environ: Mapping[str, str] | None = None


@dataclass(frozen=True)
class ProviderInfo:
    """One provider for ``errand models``: its prefix and what it is."""

    name: str
    description: str
    example: str


_Factory = Callable[[str, ModelSettings, Mapping[str, str]], ModelAdapter]


# Each SDK is imported when a model of its provider is first resolved, not with Errand: the
# Anthropic SDK alone adds about 40 MB to every process that never uses it.


def _anthropic(model: str, settings: ModelSettings, environ: Mapping[str, str]) -> ModelAdapter:
    from errand.models.anthropic_messages import AnthropicMessagesAdapter

    return AnthropicMessagesAdapter(model, anthropic_endpoint(environ), settings.retry)


def _openai(model: str, settings: ModelSettings, environ: Mapping[str, str]) -> ModelAdapter:
    from errand.models.openai_chat import OPENAI_QUIRKS, OpenAIChatAdapter

    return OpenAIChatAdapter(model, openai_endpoint(environ), settings.retry, OPENAI_QUIRKS)


def _openai_compat(model: str, settings: ModelSettings, environ: Mapping[str, str]) -> ModelAdapter:
    from errand.models.openai_chat import LOCAL_SERVER_QUIRKS, OpenAIChatAdapter

    endpoint = openai_compat_endpoint(environ, settings.openai_compat_base_url)
    return OpenAIChatAdapter(model, endpoint, settings.retry, LOCAL_SERVER_QUIRKS)


def _script(path: str, settings: ModelSettings, environ: Mapping[str, str]) -> ModelAdapter:
    return ScriptedModel.from_file(Path(path).expanduser())


_PROVIDERS: dict[str, tuple[ProviderInfo, _Factory]] = {
    "anthropic": (
        ProviderInfo(
            "anthropic",
            "Anthropic Messages API (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL)",
            "anthropic:MODEL",
        ),
        _anthropic,
    ),
    "openai": (
        ProviderInfo(
            "openai",
            "OpenAI Chat Completions API (OPENAI_API_KEY, OPENAI_BASE_URL)",
            "openai:MODEL",
        ),
        _openai,
    ),
    "openai-compat": (
        ProviderInfo(
            "openai-compat",
            "a local OpenAI-compatible server such as Ollama, llama.cpp, vLLM or LM Studio "
            "(ERRAND_OPENAI_COMPAT_BASE_URL, default http://127.0.0.1:11434/v1)",
            "openai-compat:MODEL",
        ),
        _openai_compat,
    ),
    "script": (
        ProviderInfo(
            "script", "a scripted test double replaying a JSON file of turns", "script:PATH"
        ),
        _script,
    ),
}


def known_providers() -> tuple[ProviderInfo, ...]:
    """Every provider prefix a model name may start with, in display order."""
    return tuple(info for info, _ in _PROVIDERS.values())


def resolve_model(spec: str, *, settings: ModelSettings | None = None) -> ModelAdapter:
    """Return the adapter for a model name such as ``anthropic:MODEL``.

    Raises:
        UnknownProvider: `spec` is not ``PROVIDER:MODEL`` or names an unknown provider.
        errand.models.InvalidScript: a ``script:`` file is missing or malformed.
    """
    settings = settings or ModelSettings()
    provider, sep, model = spec.strip().partition(":")
    names = ", ".join(_PROVIDERS)
    if not sep or not provider or not model:
        raise UnknownProvider(
            f"Model {spec!r} is not of the form PROVIDER:MODEL; providers are {names}."
        )
    entry = _PROVIDERS.get(provider.lower())
    if entry is None:
        raise UnknownProvider(
            f"Unknown model provider {provider!r} in {spec!r}; use one of {names}."
        )
    environ = settings.environ if settings.environ is not None else os.environ
    return entry[1](model, settings, environ)
