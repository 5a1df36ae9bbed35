"""Where a model lives: base URL, key and the name to use for it in messages.

An endpoint is separate from the wire dialect: the OpenAI Chat dialect serves both OpenAI
itself and any OpenAI-compatible local server; only the endpoint (and declared quirks)
differ. Keys come from the environment, never from files Errand writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ANTHROPIC_DEFAULT_BASE_URL = "https://api.anthropic.com"
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
OPENAI_COMPAT_DEFAULT_BASE_URL = "http://127.0.0.1:11434/v1"

# Local OpenAI-compatible servers usually ignore the key but the SDK insists on one.
PLACEHOLDER_API_KEY = "errand-no-key"


@dataclass(frozen=True)
class Endpoint:
    """One place to send model calls.

    `label` names the provider in user-facing sentences. `api_key` is None when the
    environment has none; adapters then fail with `ModelAuthError` naming `key_hint`.
    """

    label: str
    base_url: str
    api_key: str | None
    key_hint: str


def anthropic_endpoint(environ: Mapping[str, str]) -> Endpoint:
    """Anthropic, honouring ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY."""
    return Endpoint(
        label="Anthropic",
        base_url=environ.get("ANTHROPIC_BASE_URL") or ANTHROPIC_DEFAULT_BASE_URL,
        api_key=environ.get("ANTHROPIC_API_KEY") or None,
        key_hint="ANTHROPIC_API_KEY",
    )


def openai_endpoint(environ: Mapping[str, str]) -> Endpoint:
    """OpenAI, honouring OPENAI_BASE_URL and OPENAI_API_KEY."""
    return Endpoint(
        label="OpenAI",
        base_url=environ.get("OPENAI_BASE_URL") or OPENAI_DEFAULT_BASE_URL,
        api_key=environ.get("OPENAI_API_KEY") or None,
        key_hint="OPENAI_API_KEY",
    )


def openai_compat_endpoint(environ: Mapping[str, str], base_url: str | None = None) -> Endpoint:
    """A local OpenAI-compatible server (Ollama, llama.cpp server, vLLM, LM Studio).

    The base URL is `base_url` if given, else ERRAND_OPENAI_COMPAT_BASE_URL, else Ollama's
    default. The key is ERRAND_OPENAI_COMPAT_API_KEY if set, else a placeholder.
    """
    url = base_url or environ.get("ERRAND_OPENAI_COMPAT_BASE_URL") or OPENAI_COMPAT_DEFAULT_BASE_URL
    return Endpoint(
        label=f"OpenAI-compatible server at {url}",
        base_url=url,
        api_key=environ.get("ERRAND_OPENAI_COMPAT_API_KEY") or PLACEHOLDER_API_KEY,
        key_hint="ERRAND_OPENAI_COMPAT_API_KEY",
    )
