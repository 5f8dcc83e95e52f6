"""Release signing keys: where they live, how they are made, loaded, used and checked.

Why keys default to a folder outside the repository: a private key inside the working tree is one
`git add` away from being published. ``atom release keygen`` writes to ``~/.atom-release-keys``
(or ``$ATOM_RELEASE_KEY_DIR``) unless told otherwise, and the packet builder finds the key there,
through ``--signing-key`` or through ``$ATOM_RELEASE_SIGNING_KEY``, in that order of precedence:
flag, environment, default folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from atom_sdk.errors import ArtifactError, ConfigError

KEY_DIR_ENV = "ATOM_RELEASE_KEY_DIR"
SIGNING_KEY_ENV = "ATOM_RELEASE_SIGNING_KEY"
PUBLIC_KEY_ENV = "ATOM_RELEASE_PUBLIC_KEY"
PRIVATE_NAME = "release_signing_key.pem"
PUBLIC_NAME = "release_signing_key.pub.pem"


def default_key_dir() -> Path:
    """``$ATOM_RELEASE_KEY_DIR`` or ``~/.atom-release-keys`` (never inside a checkout by default)."""
    env = os.environ.get(KEY_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".atom-release-keys"


def resolve_signing_key(flag: str | Path | None) -> tuple[Path | None, str]:
    """(private key path or None, where it came from): the flag, the environment, the default folder."""
    if flag:
        return Path(flag).expanduser(), "--signing-key"
    env = os.environ.get(SIGNING_KEY_ENV)
    if env:
        return Path(env).expanduser(), f"${SIGNING_KEY_ENV}"
    default = default_key_dir() / PRIVATE_NAME
    if default.is_file():
        return default, f"default key {default}"
    return None, "none"


def resolve_public_key(flag: str | Path | None) -> Path | None:
    """The pinned public key: the flag, ``$ATOM_RELEASE_PUBLIC_KEY``, or None (use the packet's own)."""
    if flag:
        return Path(flag).expanduser()
    env = os.environ.get(PUBLIC_KEY_ENV)
    return Path(env).expanduser() if env else None


def inside_git_checkout(path: Path) -> bool:
    """Whether ``path`` lies inside a git working tree (a key there is easily committed)."""
    for parent in [path.resolve(), *path.resolve().parents]:
        if (parent / ".git").exists():
            return True
    return False


def keygen(out_dir: str | Path | None = None, *, overwrite: bool = False) -> tuple[Path, Path]:
    """An Ed25519 key pair as PEM: ``release_signing_key.pem`` (0600) and ``release_signing_key.pub.pem``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    out = Path(out_dir).expanduser() if out_dir else default_key_dir()
    blocking = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise ConfigError(f"--out must be a folder (the key pair is written into it); {blocking} is a file")
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    private, public = out / PRIVATE_NAME, out / PUBLIC_NAME
    if not overwrite and (private.exists() or public.exists()):
        raise ArtifactError(f"{private} already exists; pick another --out folder or pass --overwrite")
    key = Ed25519PrivateKey.generate()
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def load_private(path: Path):
    """The Ed25519 private key at ``path``, or a ConfigError that says how to make one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"signing key {path} is not a readable unencrypted PEM private key ({exc}); "
                          "create one with `atom release keygen`") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"signing key {path} is not an Ed25519 key; create one with `atom release keygen`")
    return key


def public_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def sign(key, data: bytes) -> bytes:
    """Hex signature line (what ``SHA256SUMS.sig`` holds)."""
    return key.sign(data).hex().encode() + b"\n"


def signature_problem(public_key_path: Path, signature_path: Path, data: bytes, source: str) -> str | None:
    """None when the signature verifies, else what is wrong."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_public_key(public_key_path.read_bytes())
        key.verify(bytes.fromhex(signature_path.read_text().strip()), data)
    except FileNotFoundError:
        return f"signature: public key {public_key_path} not found"
    except (InvalidSignature, ValueError, TypeError, AttributeError):
        return f"signature: {signature_path.name} does not verify against the {source} key"
    return None
