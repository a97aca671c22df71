"""The narrow channel between a check and the answer it judges: plain data, framed, both ways.

The check (trusted) and the answer (sandboxed) live in two processes joined by one socket. What
crosses it is *plain data*: None, bool, int, float, str, bytes, list, tuple, dict, set and
frozenset, nested, written as JSON with a tag for what JSON lacks (``{"$t": [...]}`` is a tuple,
``{"$d": [[key, value], ...]}`` a dict whose keys need not be strings). An object of any other
type stays where it was made and crosses as a *reference*, ``{"$r": number, ...}``, that only the
side that made it can turn back into the object.

:func:`decode` builds nothing but those plain types, refuses anything else, and bounds the size
and depth of what it reads, so whatever an answer sends is at worst wrong data: never code, never
an object with behaviour of its own (no pickle).
"""

from __future__ import annotations

import base64
import json
import math
import socket
import struct
from collections.abc import Callable
from typing import Any

MAX_MESSAGE = 64 * 1024 * 1024  # bytes in one message: more is a broken (or hostile) peer
MAX_DEPTH = 200
_HEADER = struct.Struct("!I")


class ChannelError(Exception):
    """The other side sent something that is not a message of this channel, or went away."""


class Ref:
    """A reference to an object that lives on the other side (a number, and what it looked like)."""

    __slots__ = ("number", "type_name", "callable")

    def __init__(self, number: int, type_name: str = "object", callable_: bool = False) -> None:
        self.number, self.type_name, self.callable = number, type_name, callable_

    def __repr__(self) -> str:
        return f"<{self.type_name} #{self.number} on the answer's side>"


# ------------------------------------------------------------------ encoding (either side)

def encode(value: Any, make_ref: Callable[[Any], Ref] | None = None, depth: int = 0) -> Any:
    """A JSON-able form of ``value``; objects that are not plain data become references made by
    ``make_ref`` (the answer's side), or raise TypeError (the check's side sends plain data)."""
    if depth > MAX_DEPTH:
        raise ValueError("data nested too deeply to send")
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if value is NotImplemented:  # a stub's prediction, not yet made
        return {"$ni": True}
    to_ref = getattr(kind, "__channel_ref__", None)  # an object of the other side, going home
    if to_ref is not None and make_ref is None:
        return encode(to_ref(value))
    if make_ref is not None and getattr(kind, "__channel_by_reference__", False):
        return encode(make_ref(value))  # a set of the kit's that a check watches (4.2): shared, not copied
    if kind is float:
        return value if math.isfinite(value) else {"$f": repr(value)}
    if isinstance(value, Ref):
        return {"$r": value.number, "type": value.type_name, "callable": value.callable}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, str):  # a subclass (an enum's member, Markup...): its plain text
        return str.__str__(value)
    if isinstance(value, int):
        return int.__index__(value) if not isinstance(value, bool) else bool(value)
    if isinstance(value, float):
        return encode(float.__float__(value))
    if isinstance(value, list):
        return [encode(item, make_ref, depth + 1) for item in value]
    if isinstance(value, tuple):
        return {"$t": [encode(item, make_ref, depth + 1) for item in value]}
    if isinstance(value, (set, frozenset)):
        tag = "$fs" if isinstance(value, frozenset) else "$s"
        return {tag: [encode(item, make_ref, depth + 1) for item in value]}
    if isinstance(value, dict):
        return {"$d": [[encode(k, make_ref, depth + 1), encode(v, make_ref, depth + 1)] for k, v in value.items()]}
    if make_ref is None:
        raise TypeError(f"only plain data can be sent to an answer, not a {kind.__name__}")
    return encode(make_ref(value))


def decode(data: Any, resolve: Callable[[Ref], Any] | None = None, depth: int = 0) -> Any:
    """The plain value that ``data`` (parsed JSON) stands for; references through ``resolve``
    (the answer's side turns them back into its objects; the check's side keeps :class:`Ref`)."""
    if depth > MAX_DEPTH:
        raise ChannelError("data nested too deeply")
    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is list:
        return [decode(item, resolve, depth + 1) for item in data]
    if type(data) is not dict or len(data) not in (1, 3):
        raise ChannelError(f"not a value of this channel: {type(data).__name__}")
    if "$r" in data:
        ref = Ref(_int(data["$r"]), str(data.get("type", "object"))[:200], data.get("callable") is True)
        return resolve(ref) if resolve else ref
    (tag, body), = data.items()
    if tag == "$b" and type(body) is str:
        return base64.b64decode(body.encode("ascii"), validate=True)
    if tag == "$f" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "$ni" and body is True:
        return NotImplemented
    if type(body) is not list:
        raise ChannelError(f"not a value of this channel: {tag}")
    items = [decode(item, resolve, depth + 1) for item in body] if tag != "$d" else None
    if tag == "$t":
        return tuple(items)
    if tag in ("$s", "$fs"):
        try:
            return (set if tag == "$s" else frozenset)(items)
        except TypeError:
            raise ChannelError("a set of unhashable values") from None
    if tag == "$d":
        out = {}
        for pair in body:
            if type(pair) is not list or len(pair) != 2:
                raise ChannelError("a dict entry is not a pair")
            try:
                out[decode(pair[0], resolve, depth + 1)] = decode(pair[1], resolve, depth + 1)
            except TypeError:
                raise ChannelError("a dict key that cannot be a key") from None
        return out
    raise ChannelError(f"not a value of this channel: {tag}")


def _int(value: Any) -> int:
    if type(value) is not int:
        raise ChannelError("a reference is not a number")
    return value


# ------------------------------------------------------------------ framing

def send(sock: socket.socket, message: dict) -> None:
    body = json.dumps(message, separators=(",", ":")).encode()
    if len(body) > MAX_MESSAGE:
        raise ValueError(f"a message of {len(body)} bytes is more than the channel takes")
    sock.sendall(_HEADER.pack(len(body)) + body)


def receive(sock: socket.socket) -> dict:
    """One message; ChannelError when the other side closed or sent something else."""
    (size,) = _HEADER.unpack(_read_exactly(sock, _HEADER.size))
    if size > MAX_MESSAGE:
        raise ChannelError(f"the other side sent a message of {size} bytes")
    try:
        message = json.loads(_read_exactly(sock, size))
    except (ValueError, RecursionError):
        raise ChannelError("the other side sent something that is not JSON") from None
    if type(message) is not dict:
        raise ChannelError("the other side sent something that is not a message")
    return message


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    chunks, left = [], size
    while left:
        try:
            chunk = sock.recv(min(left, 1 << 20))
        except OSError as exc:
            raise ChannelError(f"the channel broke: {exc}") from None
        if not chunk:
            raise ChannelError("the other side closed the channel")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
