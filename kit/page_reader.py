"""Pages of a JetStream pull consumer, read over a plain NATS connection of their own.

A rebuild reads a whole stream, hundreds of thousands of messages, and nats-py spends ~20 µs of
Python on each one (header parsing, a Msg object, the JetStream metadata, a queue hop): more than
everything else the rebuild does per event. This reader speaks just the part of the NATS client
protocol a pull needs (CONNECT with the URL's user/password or token, TLS when the URL or the
server asks for it, PING/PONG, SUB, PUB of pull requests, MSG/HMSG frames) and takes from each
message only its stream sequence, what the server still holds for the consumer, and the payload:
~3 µs a message. Everything else (creating the consumer, stream info) stays with nats-py.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import ssl
import urllib.parse
from dataclasses import dataclass

from kit.nats_auth import inbox_prefix

READ_SIZE = 1 << 20
STATUS_NO_MESSAGES = (b"404", b"408")  # a pull request ends without (more) messages
STATUS_HEARTBEAT = b"100"


class PageReaderError(RuntimeError):
    """The server refused the connection or the pull, with its reason."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the reply subject of a JetStream message says (`$JS.ACK.<stream>.<consumer>.<delivered>
    .<stream seq>.<consumer seq>.<time>.<pending>`, or with domain and account hash before the stream)."""

    stream_sequence: int
    pending: int


def delivery_of(reply: bytes) -> Delivery:
    tokens = reply.split(b".")
    if tokens[:2] != [b"$JS", b"ACK"] or not (len(tokens) == 9 or len(tokens) >= 11):
        raise PageReaderError(f"not a JetStream delivery: {reply[:80]!r}")
    first = 5 if len(tokens) == 9 else 7
    return Delivery(stream_sequence=int(tokens[first]), pending=int(tokens[first + 3]))


def connect_options(url: urllib.parse.SplitResult, name: str) -> dict:
    options = {"verbose": False, "pedantic": False, "headers": True, "no_responders": True, "protocol": 1,
               "lang": "python", "version": "kit-page-reader", "name": name}
    if url.username and url.password is not None:
        options |= {"user": urllib.parse.unquote(url.username), "pass": urllib.parse.unquote(url.password)}
    elif url.username:
        options["auth_token"] = urllib.parse.unquote(url.username)
    return options


class PageReader:
    """One connection, one inbox, one pull request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.buffer, self.at = b"", 0
        self.inbox = b"_INBOX." + secrets.token_hex(11).encode()

    @classmethod
    async def connect(cls, url: str, name: str, timeout: float = 10.0) -> "PageReader":
        parts = urllib.parse.urlsplit(url if "://" in url else f"nats://{url}")
        host, port = parts.hostname or "127.0.0.1", parts.port or 4222
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, limit=READ_SIZE), timeout)
        self = cls(reader, writer)
        self.inbox = inbox_prefix(url).encode() + b"." + secrets.token_hex(11).encode()  # the user's own replies
        try:
            info = await asyncio.wait_for(self._line(), timeout)
            if not info.startswith(b"INFO "):
                raise PageReaderError(f"{host}:{port} is not a NATS server")
            if parts.scheme == "tls" or json.loads(info[5:]).get("tls_required"):
                await writer.start_tls(ssl.create_default_context(), server_hostname=host)
            writer.write(b"CONNECT " + json.dumps(connect_options(parts, name)).encode() + b"\r\nPING\r\n")
            while (line := await asyncio.wait_for(self._line(), timeout)) != b"PONG":
                if line.startswith(b"-ERR"):
                    raise PageReaderError(f"NATS refused the connection: {line[5:].decode(errors='replace')}")
            writer.write(b"SUB " + self.inbox + b" 1\r\n")
        except BaseException:
            writer.close()
            raise
        return self

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass

    def request(self, stream: str, consumer: str, batch: int, expires: float | None) -> None:
        """Ask for up to `batch` messages: waiting up to `expires` seconds for them, or (None)
        only those there now."""
        body = json.dumps({"batch": batch, "expires": int(expires * 1e9)} if expires else
                          {"batch": batch, "no_wait": True}).encode()
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}".encode()
        self.writer.write(b"PUB %s %s %d\r\n%s\r\n" % (subject, self.inbox, len(body), body))

    async def page(self, batch: int) -> tuple[list[tuple[int, bytes]], int | None]:
        """The messages answering the last request, as (stream sequence, payload), and what the
        server still held for the consumer after the last of them (None if none came)."""
        messages: list[tuple[int, bytes]] = []
        pending = None
        while len(messages) < batch:
            line = await self._line()
            if line.startswith(b"HMSG ") or line.startswith(b"MSG "):
                fields = line.split(b" ")
                headered = fields[0] == b"HMSG"
                reply = fields[3] if len(fields) == (6 if headered else 5) else b""
                header_size = int(fields[-2]) if headered else 0
                body = await self._exactly(int(fields[-1]) + 2)
                if reply:
                    delivery = delivery_of(reply)
                    messages.append((delivery.stream_sequence, body[header_size:-2]))
                    pending = delivery.pending
                    continue
                status = body[9:12] if body.startswith(b"NATS/1.0 ") else b""
                if status == STATUS_HEARTBEAT:
                    continue
                if status in STATUS_NO_MESSAGES:
                    break
                raise PageReaderError(f"the pull ended: {body[:header_size].decode(errors='replace').strip()}")
            elif line == b"PING":
                self.writer.write(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                raise PageReaderError(f"NATS: {line[5:].decode(errors='replace')}")
            # +OK, PONG, INFO (cluster updates): nothing to do
        return messages, pending

    async def _line(self) -> bytes:
        while (end := self.buffer.find(b"\r\n", self.at)) < 0:
            await self._fill(0)
        line, self.at = self.buffer[self.at:end], end + 2
        return line

    async def _exactly(self, size: int) -> bytes:
        while len(self.buffer) - self.at < size:
            await self._fill(size)
        data, self.at = self.buffer[self.at:self.at + size], self.at + size
        return data

    async def _fill(self, wanted: int) -> None:
        chunk = await self.reader.read(max(READ_SIZE, wanted))
        if not chunk:
            raise PageReaderError("the NATS server closed the connection")
        self.buffer, self.at = self.buffer[self.at:] + chunk, 0
