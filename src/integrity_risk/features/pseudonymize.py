"""Keyed pseudonymization of account, device and IP identifiers, computed inside HiveQL.

``account_pk = HMAC-SHA256(key, account_id)`` as lowercase hex (RFC 2104). Spark SQL
has no ``hmac`` function, so the extract builds it from ``sha2`` and ``unhex``::

    HMAC(K, m) = SHA256((K0 xor opad) || SHA256((K0 xor ipad) || m))

where ``K0`` is the key padded to SHA-256's 64-byte block. The two padded keys are
computed here in Python and reach the server only as session variables
(``set integrity_hmac_ipad=...`` through ``HiveServer2Hook``'s ``hive_conf``); the
SQL text and the rendered templates hold only the placeholders ``${...}`` that
Spark substitutes, and every secret form is registered with Airflow's secrets
masker before a statement can be logged. On Spark the session also sets
``spark.sql.redaction.string.regex`` so the server's log shows the pads as
"(redacted)" (a Spark server that forbids this override logs them: protect its log).

The key is the password of the Airflow connection ``integrity_pseudonymization``.
For the local demo only, with ``INTEGRITY_ALLOW_DEMO_KEY=1`` in the environment, a
missing connection falls back to :data:`DEMO_KEY`, which is public and protects
nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import os

CONN_ID = "integrity_pseudonymization"
DEMO_KEY_ENV = "INTEGRITY_ALLOW_DEMO_KEY"
#: Public demo key: used only when INTEGRITY_ALLOW_DEMO_KEY=1 and no connection exists.
DEMO_KEY = "integrity-local-demo-key-NOT-SECRET"

IPAD_VAR = "integrity_hmac_ipad"
OPAD_VAR = "integrity_hmac_opad"
_BLOCK = 64  # SHA-256 block size in bytes
SERVER_REDACTION_CONF = "spark.sql.redaction.string.regex"
SERVER_REDACTION_REGEX = "(?i)[0-9a-f]{128}"


class PseudonymizationKeyError(RuntimeError):
    """The pseudonymization key is missing or unusable."""


def get_key(conn_id: str = CONN_ID) -> bytes:
    """Return the HMAC key: the password of the Airflow connection ``conn_id``.

    :param conn_id: Airflow connection whose password is the key.
    :raises PseudonymizationKeyError: no such connection (and the demo key is not
        allowed), or the connection has no password.
    """
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as err:  # the SDK raises different types in and outside a task
        if os.environ.get(DEMO_KEY_ENV) == "1":
            return DEMO_KEY.encode()
        raise PseudonymizationKeyError(
            f"Airflow connection {conn_id!r} is missing ({type(err).__name__}); its password is the "
            f"pseudonymization key. Create it (e.g. env AIRFLOW_CONN_{conn_id.upper()}), or set "
            f"{DEMO_KEY_ENV}=1 to use the public demo key in a local demo."
        ) from None
    if not conn.password:
        raise PseudonymizationKeyError(f"Airflow connection {conn_id!r} has no password; it must hold the key")
    return conn.password.encode()


def hmac_pads(key: bytes) -> tuple[str, str]:
    """Return ``(K0 xor ipad, K0 xor opad)`` as hex: the key in the form the SQL uses.

    :param key: the HMAC key.
    """
    if not key:
        raise PseudonymizationKeyError("the pseudonymization key is empty")
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    ipad = bytes(b ^ 0x36 for b in key)
    opad = bytes(b ^ 0x5C for b in key)
    return ipad.hex(), opad.hex()


def hive_conf(key: bytes) -> dict[str, str]:
    """Session variables that :func:`sql_hmac` reads, with every secret form masked in logs.

    :param key: the HMAC key.
    """
    from airflow.sdk.log import mask_secret

    ipad, opad = hmac_pads(key)
    for secret in (key.decode(errors="replace"), ipad, opad, ipad.upper(), opad.upper()):
        mask_secret(secret)
    # Set first, so the server's own log and UI show the pads (128 hex digits) of the
    # following `set` statements, and the SQL after substitution, as "(redacted)".
    return {SERVER_REDACTION_CONF: SERVER_REDACTION_REGEX, IPAD_VAR: ipad, OPAD_VAR: opad}


def sql_hmac(expr: str) -> str:
    """HiveQL for ``lower(hex(HMAC-SHA256(key, expr)))``; NULL when ``expr`` is NULL.

    The key appears only as ``${integrity_hmac_ipad}``/``${integrity_hmac_opad}``,
    substituted by the server from the session's variables.

    :param expr: a SQL expression of type STRING, e.g. ``e.account_id``.
    """
    inner = f"sha2(concat(unhex('${{{IPAD_VAR}}}'), encode({expr}, 'UTF-8')), 256)"
    return f"sha2(concat(unhex('${{{OPAD_VAR}}}'), unhex({inner})), 256)"


def pseudonymize(key: bytes, value: str) -> str:
    """The Python reference: ``hmac.new(key, value, sha256).hexdigest()``.

    :param key: the HMAC key.
    :param value: a raw identifier.
    """
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
