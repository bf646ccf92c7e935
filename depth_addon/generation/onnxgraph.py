# SPDX-License-Identifier: GPL-3.0-or-later
"""A minimal ONNX writer: the few protobuf messages a small convolutional graph needs (no onnx package).

Enough of ``onnx.proto`` to describe the appearance network for OpenCV's ``cv2.dnn`` importer
(:mod:`.netcv`): a model with one opset import, a graph of nodes with int, float and int-list
attributes, float32 initializers (raw little-endian data) and float32 inputs and outputs with fixed
or named dimensions. The graph is built in memory from the verified safetensors weights at load
time; no ``.onnx`` file is written or shipped.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

FLOAT = 1  # TensorProto.DataType.FLOAT
INT64 = 7  # TensorProto.DataType.INT64
_ATTR_FLOAT, _ATTR_INT, _ATTR_STRING, _ATTR_INTS = 1, 2, 3, 7  # AttributeProto.AttributeType


def varint(value: int) -> bytes:
    """Protobuf base-128 varint of a non-negative int (negative ints as 64-bit two's complement).

    :param value: Integer.
    """
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(number: int, wire: int) -> bytes:
    """A field key: field number and wire type (0 varint, 2 length-delimited, 5 fixed32).

    :param number: Field number.
    :param wire: Wire type.
    """
    return varint(number << 3 | wire)


def int_field(number: int, value: int) -> bytes:
    """A varint field.

    :param number: Field number.
    :param value: Value.
    """
    return key(number, 0) + varint(value)


def bytes_field(number: int, value: bytes | str) -> bytes:
    """A length-delimited field (string, bytes or an encoded message).

    :param number: Field number.
    :param value: Payload; str is UTF-8 encoded.
    """
    data = value.encode() if isinstance(value, str) else value
    return key(number, 2) + varint(len(data)) + data


def tensor(name: str, array: np.ndarray) -> bytes:
    """An encoded ``TensorProto`` holding ``array`` (float32 or int64) as raw data.

    :param name: Tensor name.
    :param array: Values.
    """
    kind = INT64 if array.dtype.kind in "iu" else FLOAT
    data = np.ascontiguousarray(array, "<i8" if kind == INT64 else "<f4")
    dims = b"".join(int_field(1, d) for d in data.shape)
    return dims + int_field(2, kind) + bytes_field(8, name) + bytes_field(9, data.tobytes())


def value_info(name: str, dims: tuple[int | str, ...]) -> bytes:
    """An encoded float32 ``ValueInfoProto``; str dimensions are symbolic.

    :param name: Value name.
    :param dims: Shape.
    """
    shape = b"".join(bytes_field(1, bytes_field(2, d) if isinstance(d, str) else int_field(1, d)) for d in dims)
    tensor_type = int_field(1, FLOAT) + bytes_field(2, shape)
    return bytes_field(1, name) + bytes_field(2, bytes_field(1, tensor_type))


def attribute(name: str, value: int | float | str | tuple[int, ...]) -> bytes:
    """An encoded ``AttributeProto`` (int, float, string or list of ints).

    :param name: Attribute name.
    :param value: Value.
    """
    out = bytes_field(1, name)
    if isinstance(value, tuple):
        return out + b"".join(int_field(8, v) for v in value) + int_field(20, _ATTR_INTS)
    if isinstance(value, str):
        return out + bytes_field(4, value) + int_field(20, _ATTR_STRING)
    if isinstance(value, float):
        return out + key(2, 5) + struct.pack("<f", value) + int_field(20, _ATTR_FLOAT)
    return out + int_field(3, value) + int_field(20, _ATTR_INT)


@dataclass
class Graph:
    """An ONNX graph under construction.

    :param nodes: Encoded ``NodeProto`` messages, in order.
    :param initializers: Encoded constant tensors.
    :param inputs: Encoded graph inputs.
    :param outputs: Encoded graph outputs.
    """

    nodes: list[bytes] = field(default_factory=list)
    initializers: list[bytes] = field(default_factory=list)
    inputs: list[bytes] = field(default_factory=list)
    outputs: list[bytes] = field(default_factory=list)

    def node(self, op: str, inputs: list[str], output: str, **attrs: int | float | str | tuple[int, ...]) -> str:
        """Append a node with one output; return the output's name.

        :param op: ONNX operator type.
        :param inputs: Input value names.
        :param output: Output value name.
        :param attrs: Attributes.
        """
        body = b"".join(bytes_field(1, i) for i in inputs) + bytes_field(2, output) + bytes_field(3, output)
        body += bytes_field(4, op) + b"".join(bytes_field(5, attribute(k, v)) for k, v in attrs.items())
        self.nodes.append(body)
        return output

    def constant(self, name: str, array: np.ndarray) -> str:
        """Add an initializer; return its name.

        :param name: Tensor name.
        :param array: Values.
        """
        self.initializers.append(tensor(name, array))
        return name

    def model(self, opset: int = 13) -> bytes:
        """The encoded ``ModelProto`` (IR version 7).

        :param opset: Default-domain opset version.
        """
        graph = b"".join(bytes_field(1, n) for n in self.nodes) + bytes_field(2, "graph")
        graph += b"".join(bytes_field(5, t) for t in self.initializers)
        graph += b"".join(bytes_field(11, v) for v in self.inputs) + b"".join(bytes_field(12, v) for v in self.outputs)
        return int_field(1, 7) + bytes_field(8, bytes_field(1, "") + int_field(2, opset)) + bytes_field(7, graph)
