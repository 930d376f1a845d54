"""Wire-level behaviour of the client: lenient decoding, truncation flags, hashes, and the proto contract."""

from __future__ import annotations

import zlib
from pathlib import Path

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

from console.remsvc import wire
from console.remsvc._pb import remsvc_pb2
from console.remsvc.client import RemSvcClient
from console.remsvc.model import TRUNCATION_LIMIT, TRUNCATION_MARKER, Command, CommandResult, Target, command_hash
from tests.helpers.raw_server import RawBytesServer

REPO = Path(__file__).resolve().parents[2]


def test_generated_descriptors_match_the_proto_file(tmp_path):
    """The stubs in the package are exactly what proto/remsvc.proto compiles to today."""
    out = tmp_path / "remsvc.desc"
    include = Path(protoc.__file__).parent / "_proto"
    assert protoc.main(["protoc", f"-I{REPO / 'proto'}", f"-I{include}", f"--descriptor_set_out={out}", "remsvc.proto"]) == 0
    fresh = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    for message in fresh.message_type:  # CopyToProto leaves out the derived json_name
        for fld in message.field:
            fld.ClearField("json_name")
    packaged = descriptor_pb2.FileDescriptorProto()
    remsvc_pb2.DESCRIPTOR.CopyToProto(packaged)
    assert packaged == fresh


def test_wire_field_numbers_are_the_servers():
    fields = {m.name: {f.name: f.number for f in m.fields} for m in remsvc_pb2.DESCRIPTOR.message_types_by_name.values()}
    assert fields["RemCmdMsg"] == {"cmd": 1, "cmdtyp": 2, "cmdusr": 3, "tid": 4, "src": 5, "hsh": 6}
    assert fields["RemResMsg"] == {"rc": 1, "tid": 2, "out": 3, "err": 4, "hsh": 5}
    assert fields["PingMsg"] == fields["PongMsg"] == {"seq": 1, "time": 2, "data": 3}
    assert fields["StatusMsg"] == {"rc": 1, "msg": 2}
    service = remsvc_pb2.DESCRIPTOR.services_by_name["RemSvc"]
    assert remsvc_pb2.DESCRIPTOR.package == "RS"
    assert [m.name for m in service.methods] == ["Ping", "GetStatus", "RemCmd", "RemCmdStrm"]


def test_hash_is_lowercase_crc32_of_utf8():
    cmd = "echo 'héllo' \"wörld\""
    assert command_hash(cmd) == format(zlib.crc32(cmd.encode()), "08x")
    assert command_hash("true") == command_hash("true").lower()
    assert len(command_hash("")) == 8
    msg = remsvc_pb2.RemCmdMsg.FromString(wire.encode_command(Command(cmd, cmdtyp=1, cmdusr="u", src="s"), 7))
    assert (msg.cmd, msg.cmdtyp, msg.cmdusr, msg.tid, msg.src, msg.hsh) == (cmd, 1, "u", 7, "s", command_hash(cmd))


def test_truncation_is_flagged_by_length_and_out_is_kept_as_sent():
    """As the Airflow provider keeps it: ``out`` holds the marker; the flag needs the cut length."""
    cut = "x" * TRUNCATION_LIMIT + TRUNCATION_MARKER
    raw = remsvc_pb2.RemResMsg(rc=0, tid=1, out=cut, err="e", hsh="h").SerializeToString()
    result = wire.to_result("t", wire.deserialize_result(raw))
    assert result.out == cut and result.out_truncated and not result.err_truncated
    utf8_cut = "é" * ((TRUNCATION_LIMIT - 1) // 2) + TRUNCATION_MARKER  # cut 1 byte short, at a boundary
    raw = remsvc_pb2.RemResMsg(rc=0, tid=1, out="", err=utf8_cut, hsh="h").SerializeToString()
    assert wire.to_result("t", wire.deserialize_result(raw)).err_truncated


def test_output_that_merely_ends_with_the_marker_text_is_not_truncated():
    raw = remsvc_pb2.RemResMsg(rc=0, tid=1, out="x" * 10 + TRUNCATION_MARKER, hsh="h").SerializeToString()
    result = wire.to_result("t", wire.deserialize_result(raw))
    assert result.out == "x" * 10 + TRUNCATION_MARKER
    assert not result.out_truncated and not result.err_truncated


def test_bytes_that_are_not_a_reply_decode_to_undecodable_not_an_exception():
    reply = wire.deserialize_result(b"\xff\xff\xff\xff garbage")
    assert isinstance(reply, wire.Undecodable)
    assert reply.size == 12 and reply.excerpt_hex.startswith("ffffffff")


async def test_invalid_utf8_output_is_replaced_and_flagged_not_fatal():
    """A standard client fails the whole call on this response; ours shows U+FFFD and flags it."""
    server = RawBytesServer(lambda cmd: b"ok \xff\xfe bytes \xe2\x82" if cmd == "binary" else b"plain\n")
    port = await server.start()
    try:
        target = Target("raw", "127.0.0.1", port)
        async with RemSvcClient(target) as client:
            events = [e async for e in client.stream([Command("binary"), Command("text")])]
    finally:
        await server.stop()
    results = {e.tid: e for e in events if isinstance(e, CommandResult)}
    assert results[1].invalid_utf8 and results[1].out == "ok \ufffd\ufffd bytes \ufffd"
    assert not results[2].invalid_utf8 and results[2].out == "plain\n"
    assert results[1].hsh == command_hash("binary")
    assert events[-1].ok and events[-1].missing == ()
