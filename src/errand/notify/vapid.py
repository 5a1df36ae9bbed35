"""The gateway's VAPID key (RFC 8292): it signs every push, and phones subscribe with its
public half so that push services accept pushes only from this computer.

The private key lives in the data directory as ``vapid.pem`` (owner-only), made on first
use. Keeping it across restarts matters: a new key would make every phone's subscription
useless (the push service checks the key the subscription was made with).
"""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02  # type: ignore[import-untyped]

KEY_FILE = "vapid.pem"
TOKEN_LIFETIME_S = 12 * 3600
"""How long a signed push authorization is valid (push services refuse more than 24 h)."""


class VapidKey:
    """One P-256 key; ``public_key`` is what the app passes as ``applicationServerKey``."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        self._vapid = Vapid02(private_key)
        raw = private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.public_key = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def load_or_create(cls, data_dir: Path) -> VapidKey:
        """Read ``<data_dir>/vapid.pem``, or make it (mode 0600) when absent.

        Raises:
            ValueError: the file exists but holds no P-256 private key.
        """
        path = data_dir / KEY_FILE
        try:
            pem = path.read_bytes()
        except FileNotFoundError:
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            return cls(key)
        problem = f"{path} does not hold a P-256 private key; delete it to make one"
        try:
            loaded = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ValueError(problem) from exc
        if not isinstance(loaded, ec.EllipticCurvePrivateKey) or not isinstance(
            loaded.curve, ec.SECP256R1
        ):
            raise ValueError(problem)
        return cls(loaded)

    def authorization(self, endpoint: str, subject: str, *, now: float | None = None) -> str:
        """The ``Authorization: vapid t=<JWT>, k=<public key>`` value for ``endpoint``."""
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        expires = int(now if now is not None else time.time()) + TOKEN_LIFETIME_S
        signed = self._vapid.sign({"aud": audience, "sub": subject, "exp": expires})
        return str(signed["Authorization"])
