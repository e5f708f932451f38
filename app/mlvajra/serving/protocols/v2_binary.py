"""The binary tensor data extension of the Open Inference Protocol (Triton's, KServe's default).

A body is a JSON header of `Inference-Header-Content-Length` bytes followed by raw tensors in the
order of the inputs that carry `parameters.binary_data_size`: little-endian, row-major, no
padding; BOOL one byte per element; BYTES each element a 4-byte little-endian length then the
bytes. Responses use the same layout for the outputs asked for in binary.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import numpy.typing as npt

from mlvajra.errors import MalformedJSONError

NUMPY_TYPES = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
"""Fixed-size datatypes as numpy reads them from the wire."""
_LENGTH = struct.Struct("<I")


class BinaryTensorError(ValueError):
    """The raw bytes of one tensor do not hold what its datatype and shape say."""


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, memoryview | None]:
    """The JSON header and the binary tail (None when the request is plain JSON)."""
    if header_length is None:
        return body, None
    if not header_length.isdigit() or int(header_length) > len(body):
        raise MalformedJSONError(
            "Inference-Header-Content-Length must be the byte length of the JSON header"
        )
    if int(header_length) == 0:
        raise MalformedJSONError(
            "raw binary requests (Inference-Header-Content-Length: 0) are not supported: send a "
            "JSON header naming each input"
        )
    split = int(header_length)
    return body[:split], memoryview(body)[split:]


def decode_tensor(raw: memoryview, datatype: str, count: int) -> list[Any] | npt.NDArray[Any]:
    """`count` elements of `datatype` from raw bytes: BYTES as Python values (str, or bytes), the
    fixed-size datatypes as one numpy array (read-only, over the body's bytes).

    BYTES elements that are not UTF-8 stay `bytes`, which the record rules refuse as "must be a
    string"; NaN floats stay NaN (the caller decides what missing means).
    """
    if datatype == "BYTES":
        return _decode_bytes(raw, count)
    dtype = NUMPY_TYPES.get(datatype)
    if dtype is None:
        raise BinaryTensorError(f"unknown datatype {datatype}")
    if len(raw) != dtype.itemsize * count:
        raise BinaryTensorError(
            f"{len(raw)} bytes do not hold {count} {datatype} element(s) "
            f"({dtype.itemsize * count} bytes)"
        )
    return np.frombuffer(raw, dtype=dtype, count=count)


def _decode_bytes(raw: memoryview, count: int) -> list[Any]:
    data = bytes(raw)  # slices of bytes are cheaper than of a memoryview, then copied
    values: list[Any] = []
    append, length_at = values.append, _LENGTH.unpack_from
    offset = 0
    size = len(data)
    for index in range(count):
        if offset + 4 > size:
            raise BinaryTensorError(f"the BYTES data ends before element {index}")
        start = offset + 4
        offset = start + length_at(data, offset)[0]
        if offset > size:
            raise BinaryTensorError(f"the BYTES data ends inside element {index}")
        chunk = data[start:offset]
        try:
            append(chunk.decode("utf-8"))
        except UnicodeDecodeError:
            append(chunk)
    if offset != size:
        raise BinaryTensorError(f"{size - offset} byte(s) left after {count} BYTES element(s)")
    return values


def encode_tensor(values: npt.NDArray[Any], datatype: str) -> bytes:
    """An output tensor's raw bytes, flattened row-major."""
    if datatype == "BYTES":
        encoded: dict[Any, bytes] = {}  # few distinct labels: each encoded once
        for value in set(flat := values.reshape(-1).tolist()):
            text = str(value).encode("utf-8")
            encoded[value] = _LENGTH.pack(len(text)) + text
        return b"".join([encoded[value] for value in flat])
    return np.ascontiguousarray(values, dtype=NUMPY_TYPES[datatype]).tobytes()
