"""Who may use Errand: credentials (devices and API tokens), pairing, and allowed folders.

The CLI (``errand devices``, ``tokens``, ``folders``, ``pair``) and the gateway both use this
package, so it depends on nothing above the store and the sandbox policy, and loads no web
framework. Everything here is the public surface; the modules behind it are private.

* credentials: :func:`create_token`, :func:`authenticate`, :func:`still_valid`, the
  :class:`Principal` a request acts as and its :class:`Scope` set;
* pairing: :class:`PairingService` (codes, claims, confirmation, issued devices);
* allowed folders: :func:`add_folder`, :func:`list_folders`, :func:`remove_folder` (a
  client's choices become grants in ``errand.intake``, re-checked by
  ``errand.tasks.recheck_grants``);
* uploads: :func:`save_upload` puts a file from a phone into an allowed read-write folder
  under a safe, free name.
"""

from errand.access.credentials import (
    ALL_SCOPES,
    DEVICE_INACTIVE_AFTER,
    DEVICE_SCOPES,
    Clock,
    CredentialError,
    IssuedToken,
    Principal,
    Scope,
    authenticate,
    create_token,
    format_credential,
    hash_secret,
    new_secret,
    now_of,
    parse_credential,
    secret_matches,
    still_valid,
)
from errand.access.folders import (
    AllowedFolder,
    FolderError,
    add_folder,
    list_folders,
    remove_folder,
)
from errand.access.pairing import (
    IssuedDevice,
    NewCode,
    PairingError,
    PairingService,
    PendingPairing,
)
from errand.access.uploads import (
    MAX_UPLOAD_BYTES,
    SavedUpload,
    safe_file_name,
    save_upload,
    too_large_sentence,
)

__all__ = [
    "ALL_SCOPES",
    "DEVICE_INACTIVE_AFTER",
    "DEVICE_SCOPES",
    "MAX_UPLOAD_BYTES",
    "AllowedFolder",
    "Clock",
    "CredentialError",
    "FolderError",
    "IssuedDevice",
    "IssuedToken",
    "NewCode",
    "PairingError",
    "PairingService",
    "PendingPairing",
    "Principal",
    "SavedUpload",
    "Scope",
    "add_folder",
    "authenticate",
    "create_token",
    "format_credential",
    "hash_secret",
    "list_folders",
    "new_secret",
    "now_of",
    "parse_credential",
    "remove_folder",
    "safe_file_name",
    "save_upload",
    "secret_matches",
    "still_valid",
    "too_large_sentence",
]
