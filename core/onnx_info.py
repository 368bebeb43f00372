"""What an ONNX file declares, read straight from its protobuf bytes: without the ``onnx``
package (the standalone build has none), without loading the weights, and in bounded memory.

``read(path)`` walks the ModelProto's wire format and keeps the graph's inputs and outputs (names,
element types, shapes), its initializers' names, types and shapes (their data is skipped with a
seek, so a gigabyte file costs a few milliseconds), where external data lives, and the operator
types of its nodes. Anything that does not parse (a truncated or foreign file) is a ModelError
naming the file. Only the fields Inkwell needs are decoded; the rest is skipped by its length.

Field numbers are those of onnx.proto3 (ModelProto.graph = 7, GraphProto.node = 1,
initializer = 5, input = 11, output = 12; TensorProto.dims = 1, data_type = 2, name = 8,
external_data = 13, data_location = 14; ValueInfoProto.name = 1, type = 2; TypeProto.tensor_type
= 1; Tensor.elem_type = 1, shape = 2; TensorShapeProto.dim = 1; Dimension.dim_value = 1,
dim_param = 2; NodeProto.op_type = 4, domain = 7).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from core.errors import ModelError
from core.fileio import describe_os_error, open_regular

# TensorProto.DataType values Inkwell meets.
FLOAT, UINT8, INT8, INT32, INT64, FLOAT16 = 1, 2, 3, 6, 7, 10
TYPE_NAMES = {FLOAT: "float32", UINT8: "uint8", INT8: "int8", INT32: "int32", INT64: "int64", FLOAT16: "float16"}
# Messages Inkwell decodes in memory (value infos, nodes' headers) are small; a larger one is
# not a decoder graph.
_SMALL = 1 << 20
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


@dataclass(frozen=True)
class Value:
    """A graph input or output: element type (TensorProto.DataType) and shape, each dimension an
    int or a symbolic name."""

    name: str
    elem_type: int
    shape: tuple[int | str, ...]


@dataclass(frozen=True)
class Initializer:
    name: str
    data_type: int
    dims: tuple[int, ...]
    location: str | None = None  # external data file, relative to the graph's folder


@dataclass
class GraphInfo:
    path: Path
    inputs: dict[str, Value] = field(default_factory=dict)
    outputs: dict[str, Value] = field(default_factory=dict)
    initializers: dict[str, Initializer] = field(default_factory=dict)
    op_types: set[str] = field(default_factory=set)

    @property
    def external_files(self) -> list[str]:
        return sorted({i.location for i in self.initializers.values() if i.location})


class _Truncated(Exception):
    pass


class _Reader:
    """Protobuf wire format over a seekable binary stream, within [start, end)."""

    def __init__(self, f: IO[bytes], end: int):
        self.f, self.end = f, end

    def pos(self) -> int:
        return self.f.tell()

    def more(self) -> bool:
        return self.pos() < self.end

    def byte(self) -> int:
        b = self.f.read(1)
        if not b:
            raise _Truncated
        return b[0]

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise ValueError("varint too long")

    def tag(self) -> tuple[int, int]:
        key = self.varint()
        return key >> 3, key & 7

    def length(self) -> int:
        n = self.varint()
        if self.pos() + n > self.end:
            raise _Truncated
        return n

    def bytes(self, limit: int = _SMALL) -> bytes:
        n = self.length()
        if n > limit:
            raise ValueError(f"a {n}-byte field where a small one belongs")
        data = self.f.read(n)
        if len(data) != n:
            raise _Truncated
        return data

    def sub(self) -> _Reader:
        """The length-delimited message that starts here; the caller reads it to its end."""
        n = self.length()
        return _Reader(self.f, self.pos() + n)

    def skip(self, wire: int) -> None:
        if wire == _VARINT:
            self.varint()
        elif wire == _I64:
            self._seek(8)
        elif wire == _I32:
            self._seek(4)
        elif wire == _LEN:
            self._seek(self.length())
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")

    def _seek(self, n: int) -> None:
        if self.pos() + n > self.end:
            raise _Truncated
        self.f.seek(n, os.SEEK_CUR)

    def finish(self) -> None:
        """Leave the stream at this message's end (after reading the fields of interest)."""
        if self.pos() > self.end:
            raise _Truncated
        self.f.seek(self.end)


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def read(path: str | Path) -> GraphInfo:
    """The graph's interface, initializers and operator types; ModelError if it is not an ONNX
    model file (truncated, empty, another format)."""
    path = Path(path)
    info = GraphInfo(path)
    try:
        with open_regular(path) as f:  # a FIFO would block, /dev/zero never end
            size = os.fstat(f.fileno()).st_size
            top = _Reader(f, size)
            found_graph = False
            while top.more():
                number, wire = top.tag()
                if number == 7 and wire == _LEN:
                    _graph(top.sub(), info)
                    found_graph = True
                else:
                    top.skip(wire)
    except _Truncated:
        raise ModelError(f"{path}: not a readable ONNX file (it is truncated or damaged)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: not a readable ONNX file ({exc})") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({describe_os_error(exc)})") from None
    if not found_graph or not info.inputs:
        raise ModelError(f"{path}: not a readable ONNX file (no graph with inputs)")
    return info


def _graph(r: _Reader, info: GraphInfo) -> None:
    while r.more():
        number, wire = r.tag()
        if wire != _LEN:
            r.skip(wire)
        elif number == 5:
            init = _tensor(r.sub())
            info.initializers[init.name] = init
        elif number in (11, 12):
            value = _value_info(_Reader(io.BytesIO(data := r.bytes()), len(data)))
            (info.inputs if number == 11 else info.outputs)[value.name] = value
        elif number == 1:
            info.op_types.add(_op_type(r.sub()))
        else:
            r.skip(wire)
    r.finish()


def _tensor(r: _Reader) -> Initializer:
    name, data_type, dims, location, external = "", 0, [], None, False
    while r.more():
        number, wire = r.tag()
        if number == 1 and wire == _VARINT:
            dims.append(_signed(r.varint()))
        elif number == 1 and wire == _LEN:  # packed dims
            sub = r.sub()
            while sub.more():
                dims.append(_signed(sub.varint()))
            sub.finish()
        elif number == 2 and wire == _VARINT:
            data_type = r.varint()
        elif number == 8 and wire == _LEN:
            name = r.bytes().decode("utf-8")
        elif number == 13 and wire == _LEN:
            entry = _Reader(io.BytesIO(data := r.bytes()), len(data))
            key = value = ""
            while entry.more():
                n, w = entry.tag()
                if n in (1, 2) and w == _LEN:
                    text = entry.bytes().decode("utf-8")
                    key, value = (text, value) if n == 1 else (key, text)
                else:
                    entry.skip(w)
            if key == "location":
                location = value
        elif number == 14 and wire == _VARINT:
            external = r.varint() == 1
        else:
            r.skip(wire)  # the data itself: skipped with a seek
    r.finish()
    return Initializer(name, data_type, tuple(dims), location if external or location else None)


def _value_info(r: _Reader) -> Value:
    name, elem_type = "", 0
    shape: tuple[int | str, ...] = ()
    while r.more():
        number, wire = r.tag()
        if number == 1 and wire == _LEN:
            name = r.bytes().decode("utf-8")
        elif number == 2 and wire == _LEN:
            t = r.sub()
            while t.more():
                n, w = t.tag()
                if n == 1 and w == _LEN:  # tensor_type
                    elem_type, shape = _tensor_type(t.sub())
                else:
                    t.skip(w)
            t.finish()
        else:
            r.skip(wire)
    return Value(name, elem_type, shape)


def _tensor_type(r: _Reader) -> tuple[int, tuple[int | str, ...]]:
    elem_type, dims = 0, []
    while r.more():
        number, wire = r.tag()
        if number == 1 and wire == _VARINT:
            elem_type = r.varint()
        elif number == 2 and wire == _LEN:
            shape = r.sub()
            while shape.more():
                n, w = shape.tag()
                if n == 1 and w == _LEN:
                    dim = shape.sub()
                    value: int | str = "?"
                    while dim.more():
                        dn, dw = dim.tag()
                        if dn == 1 and dw == _VARINT:
                            value = _signed(dim.varint())
                        elif dn == 2 and dw == _LEN:
                            value = dim.bytes().decode("utf-8")
                        else:
                            dim.skip(dw)
                    dim.finish()
                    dims.append(value)
                else:
                    shape.skip(w)
            shape.finish()
        else:
            r.skip(wire)
    r.finish()
    return elem_type, tuple(dims)


def _op_type(r: _Reader) -> str:
    op = ""
    while r.more():
        number, wire = r.tag()
        if number == 4 and wire == _LEN:
            op = r.bytes().decode("utf-8")
        else:
            r.skip(wire)
    r.finish()
    return op
