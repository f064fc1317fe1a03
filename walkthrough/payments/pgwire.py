"""Just enough of PostgreSQL's wire protocol (version 3) for this service: connect with SCRAM-SHA-256, md5 or
trust, run simple queries, read rows as text. The standard library only, so the image needs nothing but Python.

TLS as libpq's `sslmode=prefer` does it: the connection asks for TLS first and uses it when the server offers it
(the clouds' managed databases do, and RDS for PostgreSQL 15+ and Azure's flexible server require it), plain
otherwise (the in-cluster database, inside the cluster's network). Encrypted, not authenticated: checking the
server's certificate would need each cloud's CA bundle in the image."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import ssl
import struct

SSL_REQUEST = 80877103
"""The code of the SSLRequest message: the server answers one byte, S (TLS follows) or N."""


class DatabaseError(Exception):
    """An ErrorResponse from the server (its SQLSTATE in `code`), or a connection that broke off."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class Connection:
    def __init__(self, host: str, port: int, *, user: str, password: str, database: str, timeout: float = 5.0) -> None:
        self.sock: socket.socket = socket.create_connection((host, port), timeout=timeout)
        self.sock.sendall(struct.pack("!ii", 8, SSL_REQUEST))
        if self._exactly(1) == b"S":
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            self.sock = context.wrap_socket(self.sock)
        self.encrypted = isinstance(self.sock, ssl.SSLSocket)
        body = b"".join(f"{k}\0{v}\0".encode() for k, v in (("user", user), ("database", database))) + b"\0"
        self.sock.sendall(struct.pack("!ii", len(body) + 8, 196608) + body)
        self._authenticate(user, password)

    def _send(self, kind: bytes, body: bytes) -> None:
        self.sock.sendall(kind + struct.pack("!i", len(body) + 4) + body)

    def _receive(self) -> tuple[bytes, bytes]:
        head = self._exactly(5)
        return head[:1], self._exactly(struct.unpack("!i", head[1:])[0] - 4)

    def _exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise DatabaseError("the server closed the connection")
            data += chunk
        return data

    def _authenticate(self, user: str, password: str) -> None:
        nonce = base64.b64encode(os.urandom(18)).decode()
        first_bare = f"n=,r={nonce}"
        signature = b""
        while True:
            kind, body = self._receive()
            if kind == b"E":
                raise DatabaseError(*_error_text(body))
            if kind == b"Z":
                return
            if kind != b"R":
                continue  # ParameterStatus, BackendKeyData
            code = struct.unpack("!i", body[:4])[0]
            if code == 3:  # cleartext
                self._send(b"p", password.encode() + b"\0")
            elif code == 5:  # md5(md5(password + user) + salt)
                inner = hashlib.md5((password + user).encode()).hexdigest().encode()
                self._send(b"p", b"md5" + hashlib.md5(inner + body[4:8]).hexdigest().encode() + b"\0")
            elif code == 10:  # SASL: the server lists its mechanisms
                if b"SCRAM-SHA-256\0" not in body[4:]:
                    raise DatabaseError("the server offers no SCRAM-SHA-256")
                first = f"n,,{first_bare}".encode()
                self._send(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first)
            elif code == 11:  # SASL continue: salt and iterations
                server_first = body[4:].decode()
                fields = dict(item.split("=", 1) for item in server_first.split(","))
                if not fields["r"].startswith(nonce):
                    raise DatabaseError("the server's SCRAM nonce does not extend ours")
                salted = hashlib.pbkdf2_hmac(
                    "sha256", password.encode(), base64.b64decode(fields["s"]), int(fields["i"])
                )
                client_key = hmac.digest(salted, b"Client Key", "sha256")
                final_bare = f"c=biws,r={fields['r']}"
                message = f"{first_bare},{server_first},{final_bare}".encode()
                client_signature = hmac.digest(hashlib.sha256(client_key).digest(), message, "sha256")
                proof = bytes(a ^ b for a, b in zip(client_key, client_signature, strict=True))
                signature = hmac.digest(hmac.digest(salted, b"Server Key", "sha256"), message, "sha256")
                self._send(b"p", f"{final_bare},p={base64.b64encode(proof).decode()}".encode())
            elif code == 12:  # SASL final: the server proves it knows the password too
                if body[4:].decode() != f"v={base64.b64encode(signature).decode()}":
                    raise DatabaseError("the server's SCRAM signature is wrong")
            elif code != 0:
                raise DatabaseError(f"authentication method {code} is not supported")

    def query(self, sql: str) -> list[tuple[str | None, ...]]:
        """Run one or more statements; the rows of the last one that returned rows, as text."""
        self._send(b"Q", sql.encode() + b"\0")
        rows: list[tuple[str | None, ...]] = []
        error: tuple[str, str] | None = None
        while True:
            kind, body = self._receive()
            if kind == b"T":
                rows = []
            elif kind == b"D":
                rows.append(_row(body))
            elif kind == b"E":
                error = _error_text(body)
            elif kind == b"Z":
                if error:
                    raise DatabaseError(*error)
                return rows

    def close(self) -> None:
        try:
            self._send(b"X", b"")
        finally:
            self.sock.close()


def _row(body: bytes) -> tuple[str | None, ...]:
    count, offset, values = struct.unpack("!h", body[:2])[0], 2, []
    for _ in range(count):
        size = struct.unpack("!i", body[offset : offset + 4])[0]
        offset += 4
        values.append(None if size < 0 else body[offset : offset + size].decode())
        offset += max(size, 0)
    return tuple(values)


def _error_text(body: bytes) -> tuple[str, str]:
    """An ErrorResponse's message and SQLSTATE."""
    fields = {part[:1]: part[1:].decode(errors="replace") for part in body.split(b"\0") if part}
    return f"{fields.get(b'S', 'ERROR')}: {fields.get(b'M', 'unknown error')}", fields.get(b"C", "")
