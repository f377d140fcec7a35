"""Feast's online cells of an Arrow batch, encoded a column at a time.

Feast's materialization turns every cell into a ``ValueProto`` message
(``feast.utils._convert_arrow_to_proto``), checking each value's type with pandas on the
way, and its online stores then serialize each message again. On a day of 20,000
accounts that conversion took a third of the load (``bench/bench_feast.py``). The online
stores keep each value as its serialized proto, so this module produces those bytes
directly, a column at a time:

- floating-point columns in one numpy pass: the serialized message of a double (float)
  is the field's tag followed by the IEEE-754 little-endian value (protobuf's fixed64
  and fixed32 wire types). The tag is not written here: it is read from the protobuf
  library's own encoding of a zero, and the import fails if that layout ever changes;
- every other type through the protobuf message itself, built once per distinct value of
  the column (counts and flags repeat across accounts);
- types without a plain scalar field (timestamps, lists, maps) through Feast's own
  ``python_values_to_proto_values``.

A null cell (Arrow null, or NaN in a floating-point column) is an empty ``Value``, as
Feast writes it. ``tests/features/test_online_values.py`` holds every supported type,
nulls and NaN included, to Feast's own conversion byte for byte.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from feast.value_type import ValueType

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

# The serialized form of an unset (null) value.
NULL = b""
# Value kinds whose Python value is the proto field itself (Feast's own conversion does the rest).
_PLAIN_KINDS = frozenset({"int32_val", "int64_val", "double_val", "float_val", "string_val", "bool_val", "bytes_val"})


def _fixed_width_tag(field: str, zero_width: int) -> bytes:
    zero: dict[str, Any] = {field: 0.0}
    encoded = Value(**zero).SerializeToString()
    tag, payload = encoded[:-zero_width], encoded[-zero_width:]
    if len(tag) != 1 or payload != b"\0" * zero_width:
        raise ImportError(f"unexpected protobuf encoding of Value.{field}: {encoded!r}")
    return tag


# value type -> (Value field, numpy dtype of its little-endian payload, the field's tag)
_FIXED_WIDTH: dict[ValueType, tuple[str, np.dtype, bytes]] = {
    ValueType.DOUBLE: ("double_val", np.dtype("<f8"), _fixed_width_tag("double_val", 8)),
    ValueType.FLOAT: ("float_val", np.dtype("<f4"), _fixed_width_tag("float_val", 4)),
}
_INTEGER_TYPES = frozenset({ValueType.INT32, ValueType.INT64})
# value type -> (Value field, Python conversion), for values encoded once per distinct value
_MEMOIZED: dict[ValueType, tuple[str, Callable[[Any], Any]]] = {
    ValueType.INT32: ("int32_val", int),
    ValueType.INT64: ("int64_val", int),
    ValueType.STRING: ("string_val", str),
    ValueType.BOOL: ("bool_val", bool),
    ValueType.BYTES: ("bytes_val", bytes),
}


def serialized_values(column: pa.Array | pa.ChunkedArray, value_type: ValueType) -> list[bytes]:
    """The serialized ``ValueProto`` of each cell of ``column``, as Feast's online stores keep them."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if value_type in _FIXED_WIDTH:
        return _fixed_width(column, *_FIXED_WIDTH[value_type])
    if value_type in _MEMOIZED:
        return _memoized(column, *_MEMOIZED[value_type])
    from feast.type_map import python_values_to_proto_values

    return [
        value.SerializeToString()
        for value in python_values_to_proto_values(column.to_numpy(zero_copy_only=False), value_type)
    ]


def _fixed_width(column: pa.Array, field: str, dtype: np.dtype, tag: bytes) -> list[bytes]:
    values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    null = np.isnan(values)
    record = np.empty(len(values), dtype=[("tag", "u1"), ("value", dtype)])
    record["tag"] = tag[0]
    record["value"] = values
    width = record.dtype.itemsize
    buffer = record.tobytes()
    out = [buffer[i : i + width] for i in range(0, len(buffer), width)]
    for i in np.flatnonzero(null):
        out[i] = NULL
    return out


def _memoized(column: pa.Array, field: str, convert: Callable[[Any], Any]) -> list[bytes]:
    encoded: dict[Any, bytes] = {}

    def encode(value: Any) -> bytes:
        if value is None or value != value:  # null, or NaN in a float column of ints
            return NULL
        hit = encoded.get(value)
        if hit is None:
            hit = encoded[value] = Value(**{field: convert(value)}).SerializeToString()
        return hit

    return [encode(value) for value in column.to_pylist()]


def python_values(cells: Sequence[bytes | None]) -> list[Any]:
    """Each serialized ``ValueProto``'s Python value, as ``OnlineResponse.to_dict`` gives it (None: unset).

    Each distinct serialization is decoded once (counts, flags and countries repeat).
    """
    decoded: dict[bytes | None, Any] = {}
    out = []
    for cell in cells:
        try:
            out.append(decoded[cell])
        except KeyError:
            value = decoded[cell] = python_value_of(cell)
            out.append(value)
    return out


def frame_column(cells: Sequence[bytes | None], value_type: ValueType) -> Any:
    """A column of serialized values as ``pandas.DataFrame`` makes it of Feast's ``to_dict`` lists.

    That is, a float64 array (NaN for a null) for a double or float column with a value,
    an int64 array for an integer column without a null, else the Python values (pandas
    then infers as it does for Feast's). Doubles and floats are read straight from their
    fixed-width bytes, in one numpy pass.
    """
    fixed = _FIXED_WIDTH.get(value_type)
    if fixed is not None:
        _, dtype, tag = fixed
        null = tag + np.array(np.nan, dtype).tobytes()
        width = len(null)
        joined = b"".join(cell if cell else null for cell in cells)
        if len(joined) == width * len(cells) and all(not cell or cell[0] == tag[0] for cell in cells):
            floats = np.frombuffer(joined, dtype=[("tag", "u1"), ("value", dtype)])["value"].astype(np.float64)
            return floats if any(cells) else [None] * len(cells)
    values = python_values(cells)
    if value_type in _INTEGER_TYPES and None not in values:
        return np.array(values, dtype=np.int64)
    return values


def python_value_of(cell: bytes | None) -> Any:
    """One serialized ``ValueProto``'s Python value (None when empty or absent)."""
    return python_value(Value.FromString(cell)) if cell else None


def python_value(value: Value | None) -> Any:
    """The value as ``OnlineResponse.to_dict`` gives it: ``None`` when unset or null."""
    if value is None:
        return None
    kind = value.WhichOneof("val")
    if kind in _PLAIN_KINDS:
        return getattr(value, kind)
    if kind is None or kind == "null_val":
        return None
    from feast.type_map import feast_value_type_to_python_type

    return feast_value_type_to_python_type(value)


def entity_key_protos(batch: pa.RecordBatch | pa.Table, join_keys: dict[str, ValueType]) -> list[EntityKey]:
    """Each row's ``EntityKey`` from its join key columns, as Feast builds it (keys in the given order)."""
    names = list(join_keys)
    columns = [_proto_values(batch.column(name), value_type) for name, value_type in join_keys.items()]
    return [EntityKey(join_keys=names, entity_values=list(values)) for values in zip(*columns, strict=True)]


def _proto_values(column: pa.Array | pa.ChunkedArray, value_type: ValueType) -> list[Value]:
    if value_type in _MEMOIZED:
        field, convert = _MEMOIZED[value_type]
        return [Value() if v is None else Value(**{field: convert(v)}) for v in column.to_pylist()]
    from feast.type_map import python_values_to_proto_values

    return python_values_to_proto_values(column.to_numpy(zero_copy_only=False), value_type)
