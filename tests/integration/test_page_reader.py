"""The rebuild's page reader on a real nats-server: pages in stream order with what is still
pending, and TLS when the server requires it (as deploy/nats/cluster.conf does)."""

import datetime
import ipaddress
import subprocess
from pathlib import Path

import nats
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig

from kit.embedded import free_port, nats_server_binary, wait_for_port
from kit.page_reader import PageReader

pytestmark = pytest.mark.integration


async def given_a_stream_of(js, messages: int) -> str:
    await js.add_stream(StreamConfig(name="PAGES", subjects=["pages.>"]))
    for i in range(1, messages + 1):
        await js.publish(f"pages.{i}", f"message {i}".encode(), headers={"Nats-Msg-Id": str(i)})
    await js.add_consumer("PAGES", ConsumerConfig(name="reader", deliver_policy=DeliverPolicy.ALL,
                                                  ack_policy=AckPolicy.NONE))
    return "reader"


async def test_pages_come_in_stream_order_and_say_what_is_still_pending(nats_server):
    nc = await nats.connect(nats_server.url)
    consumer = await given_a_stream_of(nc.jetstream(), 7)
    reader = await PageReader.connect(nats_server.url, name="kit-test")
    try:
        reader.request("PAGES", consumer, 5, expires=2.0)
        assert await reader.page(5) == ([(i, f"message {i}".encode()) for i in range(1, 6)], 2)
        reader.request("PAGES", consumer, 5, expires=None)  # what is there now: two, then "no messages"
        assert await reader.page(5) == ([(6, b"message 6"), (7, b"message 7")], 0)
        reader.request("PAGES", consumer, 5, expires=None)
        assert await reader.page(5) == ([], None)
    finally:
        await reader.close()
        await nc.close()


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kit-test-nats")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "server.crt", directory / "server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


async def test_the_reader_speaks_tls_when_the_server_requires_it(tmp_path: Path, monkeypatch):
    cert_file, key_file = self_signed(tmp_path)
    port = free_port()
    (tmp_path / "server.conf").write_text(
        f"listen: 127.0.0.1:{port}\njetstream {{ store_dir: {tmp_path / 'js'} }}\n"
        f"tls {{ cert_file: {cert_file}\n key_file: {key_file} }}\n")
    server = subprocess.Popen([nats_server_binary(), "-c", str(tmp_path / "server.conf")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the default context trusts the test's CA
        import ssl
        nc = await nats.connect(f"tls://127.0.0.1:{port}", tls=ssl.create_default_context())
        consumer = await given_a_stream_of(nc.jetstream(), 3)
        reader = await PageReader.connect(f"nats://127.0.0.1:{port}", name="kit-test")  # upgraded: the server asks
        try:
            reader.request("PAGES", consumer, 3, expires=2.0)
            assert await reader.page(3) == ([(1, b"message 1"), (2, b"message 2"), (3, b"message 3")], 0)
        finally:
            await reader.close()
            await nc.close()
    finally:
        server.terminate()
        server.wait(10)
