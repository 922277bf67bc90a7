"""Hand-rolled Avro binary encoding of a SensorReading in the Confluent wire format.

fastavro's generic writer costs about 5 us a record; this one about 1 us, which is what lets one process produce
100,000 readings a second. Tests check it byte for byte against fastavro.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

_DOUBLE = struct.Struct("<d").pack
_THREE_DOUBLES = struct.Struct("<ddd").pack
_TWO_OPTIONAL_DOUBLES = struct.Struct("<BdBd").pack  # union index 1 then double, twice
STATUS_SYMBOLS: Sequence[str] = ("OK", "DEGRADED", "EQUIPMENT_FAILURE", "OFFLINE", "UNKNOWN")
_STATUS_BYTE = {symbol: bytes([2 * i]) for i, symbol in enumerate(STATUS_SYMBOLS)}  # zig-zag of a small index
_UNION_SECOND = b"\x02"  # zig-zag varint of 1: the non-null branch of ["null", T]
_UNION_NULL = b"\x00"


def zigzag_varint(value: int) -> bytes:
    """Avro's long encoding: zig-zag, then base-128 little-endian varint."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def avro_string(text: str) -> bytes:
    raw = text.encode()
    return zigzag_varint(len(raw)) + raw


def optional_string(text: str | None) -> bytes:
    return _UNION_NULL if text is None else _UNION_SECOND + avro_string(text)


def confluent_header(schema_id: int) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big")


class VarintCache:
    """zig-zag varints of a slowly changing value (a timestamp, a round number), computed once per value."""

    __slots__ = ("_bytes", "_value")

    def __init__(self) -> None:
        self._value = -1
        self._bytes = b""

    def __call__(self, value: int) -> bytes:
        if value != self._value:
            self._value, self._bytes = value, zigzag_varint(value)
        return self._bytes


class MeterEncoder:
    """Encodes readings of one meter: its id, feeder and firmware are encoded once."""

    __slots__ = ("_prefix", "_suffix")

    def __init__(self, schema_id: int, meter_id: str, feeder_id: str | None, firmware: str | None) -> None:
        self._prefix = confluent_header(schema_id) + avro_string(meter_id)
        self._suffix = optional_string(feeder_id) + optional_string(firmware)

    def encode(
        self,
        timestamp: bytes,
        voltage: float,
        current: float,
        temperature: float,
        status: str,
        sequence: bytes,
        frequency: float,
        power_factor: float,
    ) -> bytes:
        """``timestamp`` and ``sequence`` come already varint-encoded (see VarintCache)."""
        return b"".join(
            (
                self._prefix,
                timestamp,
                _THREE_DOUBLES(voltage, current, temperature),
                _STATUS_BYTE[status],
                _UNION_SECOND,
                sequence,
                _TWO_OPTIONAL_DOUBLES(2, frequency, 2, power_factor),
                self._suffix,
            )
        )


def double(value: float) -> bytes:
    return _DOUBLE(value)
