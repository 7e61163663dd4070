"""A TLS server on 127.0.0.1 whose certificate is signed by a CA nobody trusts.

``UntrustedTlsServer(directory)`` makes a throwaway CA and a server certificate for
127.0.0.1 with the ``openssl`` command line (into ``directory``), listens on a free port
and completes TLS handshakes, then closes: enough for a client to fail verification the
way it would against a server behind a private CA. Threaded, so subprocesses can use it.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
from pathlib import Path

__all__ = ["UntrustedTlsServer", "make_untrusted_certificate", "openssl_available"]


def openssl_available() -> bool:
    return shutil.which("openssl") is not None


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_untrusted_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) for 127.0.0.1, signed by a new CA."""
    directory.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=Untrusted Test CA",
        cwd=directory,
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
        "-out", "server.csr", "-subj", "/CN=127.0.0.1",
        cwd=directory,
    )  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.pem",
        cwd=directory,
    )  # fmt: skip
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"


class UntrustedTlsServer:
    """TLS on a free port of 127.0.0.1 with a certificate from an unknown CA."""

    def __init__(self, directory: Path) -> None:
        self.ca, certificate, key = make_untrusted_certificate(directory)
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(certificate, key)
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        self.handshakes = 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="untrusted-tls", daemon=True)

    def start(self) -> UntrustedTlsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        self._thread.join(5)

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return
            threading.Thread(target=self._handshake, args=(conn,), daemon=True).start()

    def _handshake(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        self.handshakes += 1
        try:
            with self._context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except OSError:  # ssl.SSLError included: the client rejected our certificate
            pass
        finally:
            conn.close()
