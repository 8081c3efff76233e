"""One restricted unpickler for every pickle format soundclip reads, and safe numpy rebuilding.

Model pickles (NVIDIA's PyTorch and TensorFlow-era networks) carry source code that the
stock loaders execute. Here each format names the exact globals it may reference (an
allow-list mapping `(module, name)` to an inert stand-in); any other global -- os.system,
eval, an unknown class -- stops the load before anything runs.

Numpy arrays and scalars are never rebuilt by numpy's own reduce machinery: `_reconstruct`
yields an `ArrayStub` whose BUILD state (shape, dtype, raw bytes) becomes `np.frombuffer` of a
whitelisted numeric dtype, and `scalar(dtype, bytes)` is decoded the same way. Files written
under numpy 1 (`numpy.core.*`) and numpy 2 (`numpy._core.*`) are both accepted.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

# numeric dtypes a model file may store; object, string, void and structured dtypes are refused
NUMERIC_DTYPES = {"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"}
NUMERIC_DTYPES |= {"?", "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                   "float16", "float32", "float64"}


class DTypeStub:
    """`numpy.dtype(name, align, copy)` + BUILD state, restricted to numeric dtypes."""

    def __init__(self, name, align=False, copy=True):
        if not isinstance(name, str) or name not in NUMERIC_DTYPES:
            raise pickle.UnpicklingError(f"refusing numpy dtype {name!r} (only numeric dtypes are read)")
        self.dtype = np.dtype(name)

    def __setstate__(self, state) -> None:
        # (version, byte order, subdtype, names, fields, elsize, alignment, flags)
        if not isinstance(state, tuple) or len(state) < 5 or any(s is not None for s in state[2:5]):
            raise pickle.UnpicklingError("refusing a structured or sub-array numpy dtype")
        order = state[1]
        if order not in ("<", ">", "|", "="):
            raise pickle.UnpicklingError(f"bad numpy byte order {order!r}")
        if order in "<>":
            self.dtype = self.dtype.newbyteorder(order)


def _as_dtype(value) -> np.dtype:
    if not isinstance(value, DTypeStub):
        raise pickle.UnpicklingError("numpy data without a numeric dtype")
    return value.dtype


def _raw_bytes(data) -> bytes:
    if isinstance(data, str):  # Python 2 era pickles, read with encoding='latin1'
        data = data.encode("latin1")
    if not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError("numpy data is not raw bytes (object arrays are refused)")
    return bytes(data)


def _decode(data, dtype: np.dtype, shape: tuple, fortran: bool = False) -> np.ndarray:
    count = int(np.prod(shape, dtype=np.int64))
    raw = _raw_bytes(data)
    if len(raw) != count * dtype.itemsize:
        raise pickle.UnpicklingError(f"numpy array of shape {shape} {dtype} holds {len(raw)} bytes, "
                                     f"expected {count * dtype.itemsize}")
    array = np.frombuffer(raw, dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return np.array(array, dtype=dtype.newbyteorder("="), order="C")  # one writable copy: native, C, 0-d kept


class ArrayStub:
    """What `numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')` becomes; BUILD fills `array`."""

    def __init__(self, cls, shape, typecode):
        if cls is not np.ndarray:
            raise pickle.UnpicklingError("refusing an ndarray subclass")
        self.array: np.ndarray | None = None

    def __setstate__(self, state) -> None:
        if not isinstance(state, tuple) or len(state) != 5:
            raise pickle.UnpicklingError("malformed numpy array state")
        _, shape, dtype, fortran, data = state
        if not isinstance(shape, tuple) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise pickle.UnpicklingError(f"bad numpy array shape {shape!r}")
        self.array = _decode(data, _as_dtype(dtype), shape, bool(fortran))


def _scalar(dtype, data=b"") -> np.generic:
    """`numpy.core.multiarray.scalar(dtype, bytes)`: one value of a numeric dtype."""
    return _decode(data, _as_dtype(dtype), ())[()]


def _codecs_encode(text, encoding="utf-8") -> bytes:
    """Protocol 2 writes bytes as `_codecs.encode(text, 'latin1')`; nothing else is decoded."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("refusing _codecs.encode outside protocol-2 bytes")
    return text.encode("latin1")


NUMPY_ALLOWED: dict[tuple[str, str], Callable] = {("numpy", "dtype"): DTypeStub, ("numpy", "ndarray"): np.ndarray}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    NUMPY_ALLOWED[(_module, "_reconstruct")] = ArrayStub
    NUMPY_ALLOWED[(_module, "scalar")] = _scalar
BYTES_ALLOWED = {("_codecs", "encode"): _codecs_encode}
CONTAINERS_ALLOWED = {("builtins", "set"): set, ("builtins", "frozenset"): frozenset}


class RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` that resolves only the globals in `allowed` and no persistent ids."""

    def __init__(self, file: BinaryIO, allowed: dict[tuple[str, str], Callable], **kwargs):
        super().__init__(file, **kwargs)
        self.allowed = allowed

    def find_class(self, module: str, name: str):
        target = self.allowed.get((module, name))
        if target is None:
            raise pickle.UnpicklingError(f"refusing global '{module}.{name}'")
        return target

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refusing a persistent id (not used by model pickles)")


# what a failing load can raise: a hostile or truncated file never gets further than this
UNPICKLING_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, RuntimeError,
                     IndexError, KeyError, MemoryError, OverflowError, UnicodeDecodeError)


def restricted_load(file: BinaryIO, allowed: dict[tuple[str, str], Callable], encoding: str = "ASCII") -> Any:
    """Unpickle `file` with only `allowed` globals; numpy stand-ins come back as real arrays."""
    return materialize(RestrictedUnpickler(file, allowed, encoding=encoding).load())


def materialize(obj: Any, _seen: dict | None = None) -> Any:
    """Replace every `ArrayStub` in containers and stand-in objects (anything with a `__dict__`
    built by the unpickler) by its ndarray, in place where the container is mutable."""
    seen = {} if _seen is None else _seen
    if isinstance(obj, ArrayStub):
        if obj.array is None:
            raise pickle.UnpicklingError("numpy array without data")
        return obj.array
    if isinstance(obj, DTypeStub):
        return obj.dtype
    if id(obj) in seen:
        return seen[id(obj)]
    if isinstance(obj, dict):
        seen[id(obj)] = obj
        for key, value in obj.items():
            obj[key] = materialize(value, seen)
    elif isinstance(obj, list):
        seen[id(obj)] = obj
        obj[:] = [materialize(v, seen) for v in obj]
    elif isinstance(obj, tuple):
        seen[id(obj)] = obj
        rebuilt = tuple(materialize(v, seen) for v in obj)
        seen[id(obj)] = rebuilt
        return rebuilt
    elif hasattr(obj, "__dict__") and not isinstance(obj, type) and not callable(obj):
        seen[id(obj)] = obj
        for key, value in vars(obj).items():
            setattr(obj, key, materialize(value, seen))
    return obj
