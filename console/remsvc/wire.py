"""Message encoding for the RemSvc wire contract, with lenient decoding of process output.

RemSvc servers put raw process output into proto ``string`` fields. A standard client rejects a
response whose ``out`` is not valid UTF-8 and fails the whole call. We parse responses with a twin
of ``RemResMsg`` derived from the generated descriptor, whose text fields are ``bytes``: the wire
bytes are identical, nothing is lost, and the twin cannot drift from the proto. A reply that is not
a ``RemResMsg`` at all becomes an ``Undecodable`` value instead of an exception inside gRPC (which
would log a traceback and hand the reader ``None``).
"""

from __future__ import annotations

import time

from dataclasses import dataclass

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from ..safetext import decode_lenient
from ._pb import remsvc_pb2
from .model import TRUNCATION_LIMIT, TRUNCATION_MARKER, Command, CommandResult

SERVICE = "RS.RemSvc"
METHOD_PING = f"/{SERVICE}/Ping"
METHOD_STATUS = f"/{SERVICE}/GetStatus"
METHOD_REMCMD = f"/{SERVICE}/RemCmd"
METHOD_STREAM = f"/{SERVICE}/RemCmdStrm"

_TRUNCATION_BYTES = TRUNCATION_MARKER.encode("utf-8")
_LENIENT_FIELDS = {"out", "err", "hsh"}


def _lenient_result_class():
    proto = descriptor_pb2.FileDescriptorProto()
    remsvc_pb2.DESCRIPTOR.CopyToProto(proto)
    proto.name = "remsvc_lenient.proto"
    del proto.service[:]
    for message in proto.message_type:
        if message.name == "RemResMsg":
            for fld in message.field:
                if fld.name in _LENIENT_FIELDS:
                    fld.type = descriptor_pb2.FieldDescriptorProto.TYPE_BYTES
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("RS.RemResMsg"))


LenientRemResMsg = _lenient_result_class()
RAW_EXCERPT_BYTES = 4096
# The embedded server cuts at a UTF-8 boundary, so up to 3 bytes short of the limit.
_TRUNCATED_LENGTHS = range(TRUNCATION_LIMIT - 3, TRUNCATION_LIMIT + 1)


@dataclass(frozen=True)
class Undecodable:
    """A reply whose bytes are not a ``RemResMsg``."""

    size: int
    excerpt_hex: str
    reason: str


def deserialize_result(data: bytes):
    """A lenient ``RemResMsg``, or ``Undecodable`` when the bytes are not one."""
    try:
        return LenientRemResMsg.FromString(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        return Undecodable(len(data), data[:RAW_EXCERPT_BYTES].hex(), str(exc) or type(exc).__name__)


def encode_command(command: Command, tid: int) -> bytes:
    """Serialize one stream command; ``hsh`` is always the lowercase CRC-32 the server expects."""
    return remsvc_pb2.RemCmdMsg(
        cmd=command.cmd,
        cmdtyp=command.cmdtyp,
        cmdusr=command.cmdusr,
        tid=tid,
        src=command.src,
        hsh=command.hsh,
    ).SerializeToString()


def was_truncated(raw: bytes) -> bool:
    """The server's marker follows output cut at the limit; output merely ending in the marker's
    text is not truncated (its length says so)."""
    return raw.endswith(_TRUNCATION_BYTES) and len(raw) - len(_TRUNCATION_BYTES) in _TRUNCATED_LENGTHS


def to_result(target: str, msg, *, elapsed_s: float | None = None, at: float | None = None) -> CommandResult:
    """Turn a lenient ``RemResMsg`` into a typed result, ``out``/``err`` exactly as sent (marker
    included, as the Airflow provider keeps it); truncation and bad UTF-8 become flags."""
    out_truncated = was_truncated(msg.out)
    err_truncated = was_truncated(msg.err)
    out, bad_out = decode_lenient(msg.out)
    err, bad_err = decode_lenient(msg.err)
    hsh, _ = decode_lenient(msg.hsh)
    return CommandResult(
        target=target,
        tid=msg.tid,
        rc=msg.rc,
        out=out,
        err=err,
        hsh=hsh,
        at=time.time() if at is None else at,
        elapsed_s=elapsed_s,
        out_truncated=out_truncated,
        err_truncated=err_truncated,
        invalid_utf8=bad_out or bad_err,
    )
