"""Entities: who a feature describes.

The extract pseudonymizes every identifier before it leaves Hive, so the only key
that reaches Feast is ``account_pk`` (HMAC-SHA256 of the account id, lowercase hex).
Device and IP never appear as keys: the extract turns them into per-account
sharing counts, tagged ``pii: derived`` in the views.
"""

from feast import Entity
from feast.value_type import ValueType

account = Entity(
    name="account",
    join_keys=["account_pk"],
    value_type=ValueType.STRING,
    description="A platform account, pseudonymized: account_pk = HMAC-SHA256(key, account_id).",
    tags={"pii": "pseudonymized"},
)
