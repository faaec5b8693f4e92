"""Decode numpy's pickled 0-d object arrays holding one string, without unpickling.

playNano 0.5.0 stores four NPZ members (``channel`` and the ``*_json`` members) as
0-d ``object`` arrays, which ``np.save`` writes as a pickle. Unpickling a data file
can run any code, so afmio never does: :func:`decode_pickled_string` walks the
opcodes with :func:`pickletools.genops` and evaluates a tiny, inert subset itself.
Only the globals numpy uses to rebuild an array are accepted (they are recorded,
never called) and the result must have exactly the shape numpy produces for
``np.array(<str or bytes>, dtype=object)``. Anything else is refused.
"""

from __future__ import annotations

import pickletools
from dataclasses import dataclass
from os import PathLike
from typing import Any

from afmio.errors import CorruptFileError

__all__ = ["decode_pickled_string"]

#: The globals numpy's array pickle refers to (numpy 1.x and 2.x spellings), plus the
#: helper protocol-2 pickles use for bytes. None of them is ever imported or called.
_ALLOWED_GLOBALS = {
    ("numpy._core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy.core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy", "ndarray"): "ndarray",
    ("numpy", "dtype"): "dtype",
    ("_codecs", "encode"): "encode",
}

_PUSH_VALUE = {
    "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE",
    "SHORT_BINBYTES", "BINBYTES", "BINBYTES8",
    "BININT", "BININT1", "BININT2", "LONG1", "INT", "LONG",
}
_IGNORED = {"PROTO", "FRAME"}
_MAX_OPS = 512


@dataclass(frozen=True)
class _Global:
    name: str


@dataclass(frozen=True)
class _Call:
    func: str
    args: tuple


@dataclass(frozen=True)
class _Built:
    obj: Any
    state: Any


class _Mark:
    pass


_MARK = _Mark()


class _Refused(Exception):
    pass


def _pop_mark(stack: list[Any]) -> list[Any]:
    for i in range(len(stack) - 1, -1, -1):
        if stack[i] is _MARK:
            items = stack[i + 1 :]
            del stack[i:]
            return items
    raise _Refused("MARK missing")


def _pop(stack: list[Any], n: int = 1) -> list[Any]:
    if len(stack) < n or any(item is _MARK for item in stack[-n:]):
        raise _Refused("stack underflow")
    items = stack[-n:]
    del stack[-n:]
    return items


def _index(arg: Any) -> int:
    if not isinstance(arg, (int, str)):
        raise _Refused("memo index is not a number")
    return int(arg)


def _evaluate(payload: bytes) -> Any:
    """Run the inert subset of the pickle machine; return the top of the stack at STOP."""
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    for count, (op, arg, _pos) in enumerate(pickletools.genops(payload)):
        if count > _MAX_OPS:
            raise _Refused("too many opcodes for a string")
        name = op.name
        if name in _IGNORED:
            continue
        if name in _PUSH_VALUE:
            stack.append(arg)
        elif name == "NONE":
            stack.append(None)
        elif name in ("NEWTRUE", "NEWFALSE"):
            stack.append(name == "NEWTRUE")
        elif name == "MARK":
            stack.append(_MARK)
        elif name == "EMPTY_TUPLE":
            stack.append(())
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            stack.append(tuple(_pop(stack, int(name[-1]))))
        elif name == "TUPLE":
            stack.append(tuple(_pop_mark(stack)))
        elif name == "EMPTY_LIST":
            stack.append([])
        elif name == "LIST":
            stack.append(list(_pop_mark(stack)))
        elif name == "APPEND":
            (value,) = _pop(stack)
            if not stack or not isinstance(stack[-1], list):
                raise _Refused("APPEND to a non-list")
            stack[-1].append(value)
        elif name == "APPENDS":
            values = _pop_mark(stack)
            if not stack or not isinstance(stack[-1], list):
                raise _Refused("APPENDS to a non-list")
            stack[-1].extend(values)
        elif name == "MEMOIZE":
            if not stack:
                raise _Refused("MEMOIZE on an empty stack")
            memo[len(memo)] = stack[-1]
        elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
            if not stack:
                raise _Refused("PUT on an empty stack")
            memo[_index(arg)] = stack[-1]
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            if _index(arg) not in memo:
                raise _Refused("GET of an unknown memo entry")
            stack.append(memo[_index(arg)])
        elif name in ("GLOBAL", "STACK_GLOBAL"):
            if name == "GLOBAL":
                module, _, attr = str(arg).partition(" ")
            else:
                module, attr = _pop(stack, 2)
                if not isinstance(module, str) or not isinstance(attr, str):
                    raise _Refused("STACK_GLOBAL with non-string names")
            kind = _ALLOWED_GLOBALS.get((module, attr))
            if kind is None:
                raise _Refused(f"global {module}.{attr} is not part of a numpy string array")
            stack.append(_Global(kind))
        elif name == "REDUCE":
            func, args = _pop(stack, 2)
            if not isinstance(func, _Global) or not isinstance(args, tuple):
                raise _Refused("REDUCE of something that is not an allowed global")
            if func.name == "encode":
                # protocol 2 spelling of bytes: _codecs.encode(text, "latin1")
                if len(args) != 2 or not isinstance(args[0], str) or args[1] not in ("latin1", "latin-1"):
                    raise _Refused("unexpected _codecs.encode arguments")
                stack.append(args[0].encode("latin-1"))
            else:
                stack.append(_Call(func.name, args))
        elif name == "BUILD":
            obj, state = _pop(stack, 2)
            if not isinstance(obj, _Call):
                raise _Refused("BUILD on something that is not an array or dtype")
            stack.append(_Built(obj, state))
        elif name == "STOP":
            if len(stack) != 1:
                raise _Refused("stack not empty at STOP")
            return stack[0]
        else:
            raise _Refused(f"opcode {name} is not used by a numpy string array")
    raise _Refused("no STOP opcode")


def _check_object_dtype(value: Any) -> None:
    if not (isinstance(value, _Built) and isinstance(value.obj, _Call) and value.obj.func == "dtype"):
        raise _Refused("array dtype is not a dtype")
    if not value.obj.args or value.obj.args[0] not in ("O8", "O4"):
        raise _Refused(f"array dtype is {value.obj.args[:1]!r}, not object")


def _extract(root: Any) -> str | bytes:
    if not (isinstance(root, _Built) and isinstance(root.obj, _Call) and root.obj.func == "reconstruct"):
        raise _Refused("pickle does not rebuild a numpy array")
    args = root.obj.args
    if len(args) != 3 or args[0] != _Global("ndarray"):
        raise _Refused("pickle does not rebuild a plain ndarray")
    state = root.state
    if not isinstance(state, tuple) or len(state) != 5:
        raise _Refused("unexpected ndarray state")
    _version, shape, dtype, _fortran, items = state
    if shape != ():
        raise _Refused(f"array has shape {shape!r}, not a 0-d scalar")
    _check_object_dtype(dtype)
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], (str, bytes)):
        raise _Refused("array does not hold exactly one str or bytes value")
    return items[0]


def decode_pickled_string(payload: bytes, path: str | PathLike[str], member: str) -> str | bytes:
    """Return the str or bytes inside a pickled 0-d numpy object array.

    Parameters
    ----------
    payload : bytes
        The pickle stream (the ``.npy`` member after its header).
    path, member : str
        For the error message.

    Raises
    ------
    CorruptFileError
        The pickle is anything other than a numpy 0-d object array of one string;
        nothing in it is executed.
    """
    try:
        return _extract(_evaluate(payload))
    except _Refused as exc:
        raise CorruptFileError(
            path, f"member {member!r} is a pickle afmio refuses to load ({exc}); it was not executed"
        ) from None
    except (ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError) as exc:
        raise CorruptFileError(path, f"member {member!r} holds a malformed pickle: {exc}") from None
