"""Operator passwords: Argon2id hashes in PHC string form (``$argon2id$v=19$…``).

Production uses argon2-cffi's defaults (:data:`DEFAULT_HASHER`); tests pass a cheap hasher from
:func:`make_hasher` so they stay fast.
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import Argon2Error, InvalidHashError

DEFAULT_HASHER = PasswordHasher()
"""Argon2id with the library's recommended parameters."""


def make_hasher(*, time_cost: int, memory_cost: int, parallelism: int = 1) -> PasswordHasher:
    """An Argon2id hasher with explicit costs (``memory_cost`` in KiB)."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)


def hash_password(password: str, hasher: PasswordHasher = DEFAULT_HASHER) -> str:
    """The PHC string to store for ``password`` (a fresh random salt each call)."""
    return hasher.hash(password)


def verify_password(
    stored_hash: str, password: str, hasher: PasswordHasher = DEFAULT_HASHER
) -> bool:
    """Whether ``password`` matches ``stored_hash``; False (never an exception) for a wrong
    password, a malformed hash or a password that is not encodable text."""
    try:
        return hasher.verify(stored_hash, password)
    except (Argon2Error, InvalidHashError, UnicodeError):
        return False


def needs_rehash(stored_hash: str, hasher: PasswordHasher = DEFAULT_HASHER) -> bool:
    """Whether ``stored_hash`` was made with other parameters than ``hasher``'s (or is not a
    hash at all) and should be replaced the next time the password is known."""
    try:
        return hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


def dummy_hash(hasher: PasswordHasher = DEFAULT_HASHER) -> str:
    """A hash made with ``hasher``'s parameters whose result is never trusted: verifying against it
    costs what a real verification costs (used when a login name does not exist)."""
    return _dummy_hash(hasher.time_cost, hasher.memory_cost, hasher.parallelism,
                       hasher.hash_len, hasher.salt_len, hasher.type)


@lru_cache(maxsize=8)
def _dummy_hash(time_cost: int, memory_cost: int, parallelism: int, hash_len: int,
                salt_len: int, kind: Type) -> str:
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost,
                            parallelism=parallelism, hash_len=hash_len, salt_len=salt_len,
                            type=kind)
    return hasher.hash("not the password of any operator")
