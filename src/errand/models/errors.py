"""Typed failures of a model call, each carrying one human sentence that names the provider.

`retryable` marks failures that may pass if the same request is sent again later (rate
limits, overload, server errors, dropped connections). The retry loop in
`errand.models.retry` retries those only while nothing has yet reached the caller.
"""

from __future__ import annotations

from typing import Self


class ModelError(Exception):
    """Base of every failure a model adapter raises; `str(error)` is fit to show a user."""

    retryable: bool = False

    def __init__(self, message: str, *, provider: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.retry_after = retry_after

    def after_attempts(self, attempts: int) -> Self:
        """The same failure, its sentence saying how many attempts were made."""
        sentence = self.message.rstrip(".")
        return type(self)(
            f"{sentence}; gave up after {attempts} attempts.",
            provider=self.provider,
            retry_after=self.retry_after,
        )


class ModelAuthError(ModelError):
    """The API key is missing, wrong or not allowed to do this."""


class ModelNotFound(ModelError):
    """The endpoint does not know the model that was named."""


class ModelRequestRejected(ModelError):
    """The endpoint refused the request as invalid (e.g. too long); resending will not help."""


class ModelRateLimited(ModelError):
    """The endpoint asks us to slow down (HTTP 429)."""

    retryable = True


class ModelOverloaded(ModelError):
    """The endpoint is temporarily overloaded (HTTP 529 or an in-stream overload error)."""

    retryable = True


class ModelUnavailable(ModelError):
    """The endpoint could not be reached, failed (5xx), timed out, or ended a stream early."""

    retryable = True


class ModelProtocolError(ModelError):
    """The endpoint answered with something unusable, or broke a stream after output began."""


def error_for_status(
    provider: str,
    status: int,
    detail: str | None,
    *,
    model: str,
    key_hint: str,
    retry_after: float | None,
) -> ModelError:
    """Map an HTTP error status (and the server's own message, if any) to a typed error.

    `key_hint` names where the key comes from (e.g. ``"ANTHROPIC_API_KEY"``) so an
    authentication failure says what to fix.
    """
    said = f" ({detail.strip().rstrip('.')})" if detail and detail.strip() else ""
    if status in (401, 403):
        verb = "rejected the API key" if status == 401 else "refused this API key access"
        return ModelAuthError(f"{provider} {verb}{said}; check {key_hint}.", provider=provider)
    if status == 404:
        return ModelNotFound(
            f"{provider} does not know the model {model!r}{said}; check the model name.",
            provider=provider,
        )
    if status == 429:
        return ModelRateLimited(
            f"{provider} is rate limiting requests (HTTP 429){said}.",
            provider=provider,
            retry_after=retry_after,
        )
    if status == 529:
        return ModelOverloaded(
            f"{provider} is overloaded (HTTP 529){said}.",
            provider=provider,
            retry_after=retry_after,
        )
    if status >= 500:
        return ModelUnavailable(
            f"{provider} failed with a server error (HTTP {status}){said}.",
            provider=provider,
            retry_after=retry_after,
        )
    return ModelRequestRejected(
        f"{provider} rejected the request (HTTP {status}){said}.", provider=provider
    )
