"""Bearer-token checks on every RemSvc method, and TLS (server-only and mutual) with real certificates."""

from __future__ import annotations

import logging

import grpc
import pytest

from console.remsvc._pb import remsvc_pb2 as pb
from console.remsvc.model import command_hash
from console.server.config import ConfigError, ServerConfig, TlsConfig
from console.server.service import start_server
from tests.helpers.remsvc_server import in_process_server, remsvc_stub

TOKENS = {"airflow-prod": "prod-token-1f3a", "dev-semih": "dev-token-77c2"}


async def call(stub, method: str, metadata):
    """Invoke one method and return its answer (the last one for the stream)."""
    if method == "Ping":
        return await stub.Ping(pb.PingMsg(seq=1), metadata=metadata)
    if method == "GetStatus":
        return await stub.GetStatus(pb.Empty(), metadata=metadata)
    request = pb.RemCmdMsg(tid=1, cmd="echo ran", hsh=command_hash("echo ran"))
    if method == "RemCmd":
        return await stub.RemCmd(request, metadata=metadata)
    answers = [answer async for answer in stub.RemCmdStrm(iter([request]), metadata=metadata)]
    return answers[-1]


METHODS = ["Ping", "GetStatus", "RemCmd", "RemCmdStrm"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize(
    ("metadata", "details"),
    [
        ((), "missing Authorization header"),
        ((("authorization", "Bearer not-a-token"),), "invalid bearer token"),
        ((("authorization", "Bearer "),), "invalid bearer token"),
        ((("authorization", "Basic cHJvZC10b2tlbi0xZjNh"),), "Authorization header must use 'Bearer' scheme"),
        ((("authorization", "prod-token-1f3a"),), "Authorization header must use 'Bearer' scheme"),
    ],
    ids=["missing", "wrong", "empty", "basic", "bare-token"],
)
async def test_every_method_rejects_bad_credentials(method, metadata, details, tmp_path):
    async with in_process_server(tokens=TOKENS, insecure_auth=True) as server, remsvc_stub(server.address) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(stub, method, metadata)
        status = await stub.GetStatus(pb.Empty(), metadata=(("authorization", "Bearer dev-token-77c2"),))
    assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED
    assert raised.value.details() == details
    assert status.msg.endswith("commands=0")  # nothing ran


@pytest.mark.parametrize("method", METHODS)
async def test_every_method_accepts_each_identity_token(method):
    async with in_process_server(tokens=TOKENS, insecure_auth=True) as server, remsvc_stub(server.address) as stub:
        for token in TOKENS.values():
            answer = await call(stub, method, (("authorization", f"Bearer {token}"),))
            if method.startswith("RemCmd"):
                assert answer.out == "ran\n"
            elif method == "Ping":
                assert answer.seq == 1
            else:
                assert answer.rc == 0


async def test_identity_is_logged_and_token_never_is(caplog):
    caplog.set_level(logging.DEBUG, logger="console.server")
    async with in_process_server(tokens=TOKENS, insecure_auth=True) as server, remsvc_stub(server.address) as stub:
        await call(stub, "RemCmdStrm", (("authorization", "Bearer prod-token-1f3a"),))
        with pytest.raises(grpc.aio.AioRpcError):
            await call(stub, "Ping", (("authorization", "Bearer dev-token-WRONG"),))
    text = caplog.text
    assert "RemCmdStrm from" in text and "as airflow-prod" in text
    assert "invalid bearer token" in text
    for secret in (*TOKENS.values(), "dev-token-WRONG"):
        assert secret not in text


async def test_without_auth_section_tokens_are_ignored():
    async with in_process_server() as server, remsvc_stub(server.address) as stub:
        answer = await call(stub, "RemCmd", (("authorization", "Bearer anything"),))
    assert answer.out == "ran\n"


async def test_tokens_without_tls_are_refused_unless_insecure_auth():
    with pytest.raises(ConfigError, match="TLS is disabled.*--insecure-auth"):
        await start_server(ServerConfig(tokens=TOKENS))


def tls_config(material, *, client_ca: bool = False) -> TlsConfig:
    return TlsConfig(True, material.server_cert, material.server_key, material.ca_cert if client_ca else None)


async def test_tls_with_a_ca_file_and_token(tls_material):
    async with in_process_server(tls=tls_config(tls_material), tokens=TOKENS) as server:
        async with remsvc_stub(server.address, root_ca=tls_material.ca_cert) as stub:
            answer = await call(stub, "RemCmdStrm", (("authorization", "Bearer prod-token-1f3a"),))
        async with remsvc_stub(f"localhost:{server.port}", root_ca=tls_material.ca_cert) as stub:
            pong = await call(stub, "Ping", (("authorization", "Bearer prod-token-1f3a"),))
    assert answer.out == "ran\n" and pong.seq == 1


async def test_tls_client_trusting_another_ca_cannot_connect(tls_material):
    async with in_process_server(tls=tls_config(tls_material)) as server:
        async with remsvc_stub(server.address, root_ca=tls_material.other_ca_cert) as stub:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await stub.Ping(pb.PingMsg(seq=1), timeout=10)
        async with remsvc_stub(server.address) as plaintext:
            with pytest.raises(grpc.aio.AioRpcError) as plain_raised:
                await plaintext.Ping(pb.PingMsg(seq=1), timeout=10)
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    assert plain_raised.value.code() is grpc.StatusCode.UNAVAILABLE


async def test_tls_ca_requires_client_certificates(tls_material):
    async with in_process_server(tls=tls_config(tls_material, client_ca=True)) as server:
        async with remsvc_stub(server.address, root_ca=tls_material.ca_cert) as anonymous:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await anonymous.Ping(pb.PingMsg(seq=1), timeout=10)
        async with remsvc_stub(server.address, root_ca=tls_material.ca_cert,
                               client_cert=tls_material.client_cert, client_key=tls_material.client_key) as stub:
            pong = await stub.Ping(pb.PingMsg(seq=7), timeout=10)
    assert raised.value.code() is grpc.StatusCode.UNAVAILABLE
    assert pong.seq == 7


async def test_tls_files_that_are_not_pem_are_a_config_error(tmp_path, tls_material):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"\[tls\] cert is not a PEM file"):
        await start_server(ServerConfig(tls=TlsConfig(True, junk, tls_material.server_key)))


async def test_tls_key_from_another_pair_is_a_config_error(tls_material):
    mismatched = TlsConfig(True, tls_material.server_cert, tls_material.client_key)
    with pytest.raises(ConfigError, match="do not load as a pair"):
        await start_server(ServerConfig(tls=mismatched))
