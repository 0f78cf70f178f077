"""The outbound-URL guard (issue 7 webhooks; RELIABILITY F1, ASVS 1.3.6 / 15.3.2 / 13.2.4).

Every vector is refused before any connection is made; a canary listener on loopback counts
connections and must see none. The guard's own resolver is replaced where a name must resolve
to a chosen address (DNS names resolving to private addresses, rebinding).
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from crm.core import ssrf


class _Canary(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []
    redirect_to: str = ""

    def do_POST(self) -> None:
        _Canary.hits.append(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", _Canary.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def canary() -> Iterator[int]:
    _Canary.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Canary)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _refuse(url: str, **kwargs: Any) -> str:
    with pytest.raises(ssrf.BlockedURL) as info:
        ssrf.post(url, b"{}", {"Content-Type": "application/json"}, **kwargs)
    return str(info.value.message)


LOOPBACK_AND_ENCODINGS = [
    "http://127.0.0.1:{port}/x",
    "http://localhost:{port}/x",
    "http://LOCALHOST.:{port}/x",
    "http://sub.localhost:{port}/x",
    "http://[::1]:{port}/x",
    "http://[::ffff:127.0.0.1]:{port}/x",
    "http://[::ffff:7f00:1]:{port}/x",
    "http://[::127.0.0.1]:{port}/x",
    "http://[64:ff9b::7f00:1]:{port}/x",
    "http://[2002:7f00:1::]:{port}/x",
    "http://0x7f000001:{port}/x",
    "http://0x7f.0.0.1:{port}/x",
    "http://2130706433:{port}/x",
    "http://017700000001:{port}/x",
    "http://0177.0.0.1:{port}/x",
    "http://127.1:{port}/x",
    "http://127.0.1:{port}/x",
    "http://0:{port}/x",
    "http://0.0.0.0:{port}/x",
    "http://[::]:{port}/x",
]

PRIVATE_AND_SPECIAL = [
    "http://10.0.0.1/",
    "http://10.255.255.254/",
    "http://172.16.0.1/",
    "http://172.31.255.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://[fd00::1]/",
    "http://[fc00::1]/",
    "http://100.64.0.1/",
    "http://192.0.0.1/",
    "http://198.18.0.1/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
]

BAD_SCHEMES = [
    "file:///etc/passwd",
    "gopher://127.0.0.1:70/_x",
    "ftp://example.com/",
    "dict://127.0.0.1:11211/",
    "javascript:alert(1)",
    "//example.com/x",
    "example.com/x",
    "",
]


@pytest.mark.parametrize("template", LOOPBACK_AND_ENCODINGS)
def test_loopback_in_every_encoding_is_refused_and_never_reached(
    template: str, canary: int
) -> None:
    # R10.2 / F1: 127.0.0.1, localhost, [::1], [::ffff:127.0.0.1], 0x7f000001, 2130706433,
    # 017700000001… are refused before connecting: the canary on loopback sees nothing
    _refuse(template.format(port=canary))
    assert _Canary.hits == []


@pytest.mark.parametrize("url", PRIVATE_AND_SPECIAL)
def test_private_link_local_and_reserved_addresses_are_refused(url: str) -> None:
    # R10.2 / F1: 10/8, 172.16/12, 192.168/16, cloud metadata, ULA, CGNAT, multicast, reserved
    _refuse(url)


@pytest.mark.parametrize("url", BAD_SCHEMES)
def test_only_http_and_https_are_allowed(url: str) -> None:
    # R10.2 / F1: file://, gopher://, ftp://… are refused
    _refuse(url)


def test_credentials_in_the_url_are_refused() -> None:
    # F1: credentials in URL
    message = _refuse("https://user:pass@example.com/hook")
    assert "password" in message.lower() or "密码" in message


def test_a_name_resolving_to_a_private_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, canary: int
) -> None:
    # R10.2 / F1: the check is on the resolved address, not the name
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["127.0.0.1"])
    _refuse(f"http://hooks.example.com:{canary}/x")
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["10.1.2.3"])
    _refuse("https://intranet.example.com/x")
    # one private address among public ones is enough to refuse
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["93.184.216.34", "192.168.0.5"])
    _refuse("https://mixed.example.com/x")
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["::ffff:127.0.0.1"])
    _refuse(f"http://mapped.example.com:{canary}/x")
    assert _Canary.hits == []


def test_the_connection_goes_to_the_checked_address(
    monkeypatch: pytest.MonkeyPatch, canary: int
) -> None:
    # F1 DNS rebinding: the name is resolved once; the socket connects to that address and the
    # Host header carries the name. A second lookup (answering something else) is never made.
    answers = iter([["127.0.0.1"], ["10.9.9.9"]])
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: next(answers))
    connected: list[Any] = []
    real = socket.create_connection

    def spy(address: Any, *args: Any, **kwargs: Any) -> Any:
        connected.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", spy)
    answer = ssrf.post(f"http://hooks.example.com:{canary}/in", b"{}", {}, allow_private=True)
    assert answer.status == 200
    assert connected == [("127.0.0.1", canary)]
    assert _Canary.hits == ["/in"]


def test_rebinding_to_a_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # F1 DNS rebinding: first public, then private: each request checks what it connects to
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: next(answers))
    target = ssrf.check_url("https://rebind.example.com/x")
    assert target.ip == "93.184.216.34"
    _refuse("https://rebind.example.com/x")


def test_redirects_are_not_followed(canary: int) -> None:
    # R10.2 / F1: a 302 (to a private address) is an answer, never followed
    _Canary.redirect_to = f"http://127.0.0.1:{canary}/internal"
    answer = ssrf.post(f"http://127.0.0.1:{canary}/redirect", b"{}", {}, allow_private=True)
    assert answer.status == 302
    assert _Canary.hits == ["/redirect"]


def test_an_administrators_private_host_allowance_admits_loopback_but_not_metadata(
    canary: int,
) -> None:
    # R10.2: the explicit allowance opens private and loopback hosts, never link-local
    # (cloud metadata), multicast or the unspecified address, nor odd encodings
    answer = ssrf.post(f"http://127.0.0.1:{canary}/ok", b"{}", {}, allow_private=True)
    assert answer.status == 200
    for url in (
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
        f"http://0x7f000001:{canary}/",
        f"http://2130706433:{canary}/",
    ):
        _refuse(url, allow_private=True)
    assert _Canary.hits == ["/ok"]


def test_public_addresses_pass_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    # R10.2: ordinary public hosts are fine (no connection is made by check_url)
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["93.184.216.34", "2606:2800::1"])
    target = ssrf.check_url("https://erp.example.com:8443/hook?x=1")
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "erp.example.com",
        8443,
        "/hook?x=1",
    )
    assert target.host_header == "erp.example.com:8443"
    assert ssrf.check_url("http://8.8.8.8/").ip == "8.8.8.8"


def test_the_answer_is_read_at_most_one_mebibyte(monkeypatch: pytest.MonkeyPatch) -> None:
    # F1: response cap 1 MiB (a huge answer does not exhaust memory)
    class Big(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", str(3 * 1024 * 1024))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(b"x" * (3 * 1024 * 1024))

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Big)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        answer = ssrf.post(f"http://127.0.0.1:{port}/", b"{}", {}, allow_private=True)
        assert answer.status == 200 and len(answer.body) == ssrf.MAX_RESPONSE_BYTES
    finally:
        server.shutdown()
        server.server_close()
