"""The passphrase that encrypts the secrets in Pulumi's state and stack files: never empty by default.

With a DIY backend (the `.pulumi/` folder, or a bucket) and the passphrase secrets provider, Pulumi encrypts every
secret (registry tokens, generated database passwords, a cluster stack's kubeconfig with its admin key) with a key
derived from the passphrase. An empty passphrase makes that encryption a formality: anyone with the file reads them.
So `make`, `python -m tools env` and the operations use, unless the user exported PULUMI_CONFIG_PASSPHRASE or
PULUMI_CONFIG_PASSPHRASE_FILE (or uses another secrets provider, which ignores both), a passphrase of the
checkout's own: `.kubeport/passphrase`, made on first use from 32 random bytes, mode 0600, outside git.
Keep a copy where you keep other secrets: without it the stacks' secrets cannot be read again.

`decrypts_with` answers whether a stack file's `encryptionsalt` was made with a given passphrase (the empty one, in
the test that no committed stack file was), with the same key derivation and cipher as Pulumi's passphrase manager.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from tools.private import not_private
from tools.stack_files import ROOT

FILE = ROOT / ".kubeport" / "passphrase"
ITERATIONS = 1_000_000
"""PBKDF2-SHA256 rounds of Pulumi's passphrase manager (pkg/secrets/passphrase)."""
CHECK_MESSAGE = b"pulumi"
"""What the salt's ciphertext decrypts to under the right key."""


class PassphraseError(Exception):
    """The passphrase file is not one kubeport can trust; the message says why and what to do."""


def ensure_file(path: Path | None = None) -> Path:
    """The checkout's passphrase file: made (0600, in a 0700 folder) with a random passphrase when missing; refused
    when it is a link, another user's, readable by others or empty."""
    path = path or FILE
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    problem = not_private(path, directory=False) or ("is empty" if not path.read_text().strip() else "")
    if problem:
        raise PassphraseError(f"{path} {problem}; it holds the passphrase of the stacks' secrets")
    return path


def passphrase_env(environ: Mapping[str, str], path: Path | None = None) -> dict[str, str]:
    """What to add to a Pulumi command's environment: nothing when the user chose a passphrase (or a file), else
    PULUMI_CONFIG_PASSPHRASE_FILE naming the checkout's own (`path`, by default FILE; made now if missing)."""
    if "PULUMI_CONFIG_PASSPHRASE" in environ or environ.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        return {}
    return {"PULUMI_CONFIG_PASSPHRASE_FILE": str(ensure_file(path or FILE))}


def decrypts_with(passphrase: str, encryption_salt: str) -> bool:
    """Whether a stack file's `encryptionsalt` (v1:<salt>:v1:<nonce>:<ciphertext>) was made with `passphrase`."""
    try:
        version, salt, sealed = encryption_salt.split(":", 2)
        sealed_version, nonce, ciphertext = sealed.split(":")
        if version != "v1" or sealed_version != "v1":
            raise ValueError(encryption_salt)
        derive = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=base64.b64decode(salt), iterations=ITERATIONS)
        key = derive.derive(passphrase.encode())
        opened = AESGCM(key).decrypt(base64.b64decode(nonce), base64.b64decode(ciphertext), None)
    except InvalidTag:
        return False
    except (ValueError, binascii.Error) as err:
        raise ValueError(f"not an encryptionsalt of Pulumi's passphrase manager: {encryption_salt!r}") from err
    return opened == CHECK_MESSAGE
