"""A RemSvc peer that answers with raw bytes in ``out``, as C++ servers do for binary output.

The embedded server always sends valid UTF-8, so this is the only way to put invalid UTF-8 on the
wire over a real socket.
"""

from __future__ import annotations

import grpc

from console.remsvc._pb import remsvc_pb2


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def raw_response(tid: int, rc: int, out: bytes, err: bytes, hsh: str) -> bytes:
    """Encode a RemResMsg by hand so ``out``/``err`` may hold any bytes."""
    return (
        _varint(1 << 3) + _varint(rc)
        + _varint(2 << 3) + _varint(tid)
        + _field(3, out) + _field(4, err) + _field(5, hsh.encode())
    )


async def serve_stream(stream) -> tuple[grpc.aio.Server, int]:
    """A started grpc.aio server on loopback whose ``RemCmdStrm`` handler is ``stream``: raw request
    bytes in, raw reply bytes out, so a test peer can answer anything; returns it and its port."""
    handler = grpc.method_handlers_generic_handler(
        "RS.RemSvc", {"RemCmdStrm": grpc.stream_stream_rpc_method_handler(stream)}
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


class RawBytesServer:
    """Answers every streamed command with ``out_for(cmd)`` bytes, rc 0."""

    def __init__(self, out_for):
        self.out_for = out_for
        self.server: grpc.aio.Server | None = None
        self.port = 0

    async def start(self) -> int:
        async def stream(request_iterator, context):
            async for raw in request_iterator:
                msg = remsvc_pb2.RemCmdMsg.FromString(raw)
                yield raw_response(msg.tid, 0, self.out_for(msg.cmd), b"", msg.hsh)

        self.server, self.port = await serve_stream(stream)
        return self.port

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(None)
