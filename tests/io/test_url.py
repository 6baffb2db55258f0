"""fetch_url against a real local server: SSRF refusals, pinning, redirects, caps and timeouts.

Connections and DNS lookups are observed through Python's audit hooks (``socket.connect``, ``socket.getaddrinfo``),
so "refused without connecting" and "resolved exactly once" are asserted without patching anything.
"""

from __future__ import annotations

import contextlib
import http.server
import io
import ipaddress
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

from imagelens.config import UrlFetchSettings
from imagelens.errors import ImageLensError, InvalidImageSizeError, InvalidImageUrlError
from imagelens.io import fetch_url, is_public_address, load_image
from imagelens.io.url import Address

PNG = (lambda b: (Image.new("RGB", (64, 64), (0, 128, 255)).save(b, "PNG"), b.getvalue())[1])(io.BytesIO())
BIG = 50_000
PRIVATE_OK = UrlFetchSettings(allow_private=True, timeout_s=2.0)


def loopback_only(address: Address) -> bool:
    return address.is_loopback


# --- observing sockets ---------------------------------------------------------------------------------------------


@dataclass
class SocketLog:
    thread: int | None = None
    connects: list[tuple[str, int]] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)

    def hook(self, event: str, args: tuple[object, ...]) -> None:
        if self.thread is None or threading.get_ident() != self.thread:
            return
        if event == "socket.connect":
            address = args[1]
            if isinstance(address, tuple):
                self.connects.append((str(address[0]), int(address[1])))
        elif event == "socket.getaddrinfo":
            self.lookups.append(str(args[0]))


_LOG = SocketLog()
sys.addaudithook(_LOG.hook)  # audit hooks cannot be removed; it records only while a test asks it to


@contextmanager
def observed() -> Iterator[SocketLog]:
    """Record the connects and lookups this thread makes inside the block."""
    _LOG.connects.clear()
    _LOG.lookups.clear()
    _LOG.thread = threading.get_ident()
    try:
        yield _LOG
    finally:
        _LOG.thread = None


def assert_error(call: Callable[[], object], cls: type[ImageLensError], inner: str) -> ImageLensError:
    with pytest.raises(ImageLensError) as caught:
        call()
    assert type(caught.value) is cls, (
        f"expected {cls.__name__}, got {type(caught.value).__name__}: {caught.value}"
    )
    assert caught.value.inner_code == inner
    return caught.value


URL_ERROR = (InvalidImageUrlError, "InvalidImageUrl")
SIZE_ERROR = (InvalidImageSizeError, "InvalidImageSize")


# --- the local server ----------------------------------------------------------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    stop: threading.Event  # set on the class by the fixture

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _send(
        self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, length: bool = True
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str, status: int = 302) -> None:
        self._send(status, headers={"Location": location})

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?", 1)[0]
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self._route(path)  # the client may give up (a cap or a deadline): expected in these tests

    def _route(self, path: str) -> None:
        if path == "/img.png":
            self._send(200, PNG, {"Content-Type": "image/png"})
        elif path == "/echo-host":
            self._send(200, (self.headers.get("Host") or "").encode())
        elif path == "/redirect-metadata":
            self._redirect("http://169.254.169.254/latest/meta-data/")
        elif path == "/redirect-file":
            self._redirect("file:///etc/passwd")
        elif path == "/loop":
            self._redirect("/loop")
        elif path in ("/ping", "/pong"):
            self._redirect("/pong" if path == "/ping" else "/ping", 307)
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            self._redirect(f"/chain/{left - 1}", 301) if left else self._send(200, PNG)
        elif path == "/dir/relative":
            self._redirect("../img.png")
        elif path == "/no-location":
            self._send(302)
        elif path.startswith("/status/"):
            self._send(int(path.rsplit("/", 1)[1]), b"nope")
        elif path == "/big":
            self._send(200, bytes(BIG))
        elif path == "/big-unsized":  # HTTP/1.0, no Content-Length: the body ends when the server closes
            self._send(200, bytes(BIG), length=False)
        elif path == "/drip":
            self._send(200, b"", length=False)
            for _ in range(40):
                if self.stop.wait(0.1):
                    break
                self.wfile.write(b"x")
                self.wfile.flush()
        else:
            self._send(404)


@dataclass
class Server:
    base: str
    port: int
    sni: list[str | None]


@contextmanager
def serve(tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    stop = threading.Event()
    handler = type("BoundHandler", (Handler,), {"stop": stop})
    sni: list[str | None] = []

    class LocalServer(http.server.ThreadingHTTPServer):
        daemon_threads = False  # server_close() joins the handler threads: nothing outlives the test
        block_on_close = True

        def finish_request(self, request, client_address):  # type: ignore[no-untyped-def]
            if tls is None:
                return super().finish_request(request, client_address)
            request.settimeout(5)
            with tls.wrap_socket(
                request, server_side=True
            ) as wrapped:  # socketserver closes only the raw one
                return super().finish_request(wrapped, client_address)

        def handle_error(self, request, client_address):  # type: ignore[no-untyped-def]
            pass  # failed handshakes are what some tests provoke

    if tls is not None:
        tls.sni_callback = lambda _sock, name, _ctx: sni.append(name)
    server = LocalServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    port = server.server_address[1]
    try:
        yield Server(f"{'https' if tls else 'http'}://127.0.0.1:{port}", port, sni)
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
        assert not thread.is_alive()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with serve() as running:
        yield running


# --- refusals before any connection --------------------------------------------------------------------------------

REFUSED_HOSTS = [
    "http://127.0.0.1:{port}/img.png",
    "http://localhost:{port}/img.png",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:{port}/img.png",
    "http://[::ffff:127.0.0.1]:{port}/img.png",
    "http://[::ffff:169.254.169.254]/",
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://0.0.0.0:{port}/",
    "http://10.1.2.3/",
    "http://192.168.0.1/",
    "http://100.64.0.1/",
    "http://[fe80::1]/",
    "http://[fd00::1]/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
]


@pytest.mark.parametrize("template", REFUSED_HOSTS)
def test_private_addresses_are_refused_by_default_without_connecting(server: Server, template: str) -> None:
    url = template.format(port=server.port)
    with observed() as log:
        started = time.perf_counter()
        error = assert_error(lambda: fetch_url(url, UrlFetchSettings(), 10**6), *URL_ERROR)
        elapsed = time.perf_counter() - started
    assert log.connects == []
    assert elapsed < 0.5
    assert error.message.startswith("Image URL is not accessible")
    if "localhost" in url:  # the message does not reveal what the name resolved to
        assert "127.0.0.1" not in error.message and "::1" not in error.message


def test_load_image_refuses_a_local_url_by_default(server: Server) -> None:
    assert_error(lambda: load_image(f"{server.base}/img.png"), *URL_ERROR)


def test_allow_private_fetches_from_the_local_server(server: Server) -> None:
    assert fetch_url(f"{server.base}/img.png", PRIVATE_OK, 10**6) == PNG
    loaded = load_image(f"{server.base}/img.png", url=PRIVATE_OK)
    assert (loaded.format, loaded.byte_size, loaded.width) == ("png", len(PNG), 64)


BAD_URLS = [
    "file:///etc/passwd",
    "ftp://example.com/a.png",
    "data:image/png;base64,iVBORw0KGgo=",
    "javascript:alert(1)",
    "gopher://127.0.0.1/",
    "http://",
    "http:///img.png",
    "http://user:secret@127.0.0.1/img.png",
    "http://127.0.0.1:99999/",
    "http://exa mple.com/",
    "http://example.com/\r\nX-Injected: 1",
    "//example.com/img.png",
    "example.com/img.png",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_badly_formatted_urls_are_refused_before_any_lookup(url: str) -> None:
    with observed() as log:
        error = assert_error(lambda: fetch_url(url, PRIVATE_OK, 10**6), *URL_ERROR)
    assert (log.lookups, log.connects) == ([], [])
    assert error.message.startswith("Image URL is badly formatted")


# --- redirects -------------------------------------------------------------------------------------------------------


def test_redirect_to_the_metadata_address_is_refused_by_an_injected_policy(server: Server) -> None:
    with observed() as log:
        started = time.perf_counter()
        assert_error(
            lambda: fetch_url(
                f"{server.base}/redirect-metadata", PRIVATE_OK, 10**6, address_allowed=loopback_only
            ),
            *URL_ERROR,
        )
        elapsed = time.perf_counter() - started
    assert log.connects == [("127.0.0.1", server.port)]  # the first hop only
    assert elapsed < 0.5


def test_redirect_to_another_scheme_is_refused(server: Server) -> None:
    assert_error(lambda: fetch_url(f"{server.base}/redirect-file", PRIVATE_OK, 10**6), *URL_ERROR)


@pytest.mark.parametrize("path", ["/loop", "/ping"])
def test_redirect_loops_are_refused(server: Server, path: str) -> None:
    error = assert_error(lambda: fetch_url(server.base + path, PRIVATE_OK, 10**6), *URL_ERROR)
    assert "loop" in error.message


def test_redirects_are_followed_up_to_the_limit(server: Server) -> None:
    settings = PRIVATE_OK.model_copy(update={"max_redirects": 3})
    assert fetch_url(f"{server.base}/chain/3", settings, 10**6) == PNG
    error = assert_error(lambda: fetch_url(f"{server.base}/chain/4", settings, 10**6), *URL_ERROR)
    assert "more than 3 redirects" in error.message


def test_relative_location_is_resolved_against_the_current_url(server: Server) -> None:
    assert fetch_url(f"{server.base}/dir/relative", PRIVATE_OK, 10**6) == PNG


def test_redirect_without_location_is_refused(server: Server) -> None:
    assert_error(lambda: fetch_url(f"{server.base}/no-location", PRIVATE_OK, 10**6), *URL_ERROR)


# --- answers -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 403, 500])
def test_error_statuses_are_refused_naming_the_status(server: Server, status: int) -> None:
    error = assert_error(lambda: fetch_url(f"{server.base}/status/{status}", PRIVATE_OK, 10**6), *URL_ERROR)
    assert f"HTTP {status}" in error.message and error.detail["status"] == status


@pytest.mark.parametrize("path", ["/big", "/big-unsized"])
def test_bodies_past_the_cap_are_refused(server: Server, path: str) -> None:
    assert_error(lambda: fetch_url(server.base + path, PRIVATE_OK, BIG - 1), *SIZE_ERROR)
    assert fetch_url(server.base + path, PRIVATE_OK, BIG) == bytes(BIG)  # exactly at the cap is fine


def test_connection_is_pinned_and_the_host_header_kept(server: Server) -> None:
    """One lookup per hop; the socket goes to a checked address; the server still sees the name."""
    url = f"http://localhost:{server.port}/echo-host"
    with observed() as log:
        body = fetch_url(url, UrlFetchSettings(), 10**6, address_allowed=loopback_only)
    assert body == f"localhost:{server.port}".encode()
    assert log.lookups == ["localhost"]
    assert log.connects and all(ipaddress.ip_address(host).is_loopback for host, _ in log.connects)


def test_the_policy_sees_every_resolved_address(server: Server) -> None:
    seen: list[Address] = []

    def refuse_all(address: Address) -> bool:
        seen.append(address)
        return False

    assert_error(
        lambda: fetch_url(f"http://localhost:{server.port}/", PRIVATE_OK, 10, address_allowed=refuse_all),
        *URL_ERROR,
    )
    assert seen and all(a.is_loopback for a in seen)


# --- time ------------------------------------------------------------------------------------------------------------


def test_a_server_that_never_answers_is_cut_by_the_timeout() -> None:
    with socket.socket() as listener:  # accepts connections in the kernel backlog, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/img.png"
        started = time.perf_counter()
        error = assert_error(
            lambda: fetch_url(url, UrlFetchSettings(allow_private=True, timeout_s=0.5), 10**6), *URL_ERROR
        )
        elapsed = time.perf_counter() - started
    assert 0.4 < elapsed < 1.5
    assert "in time" in error.message


def test_a_dripping_server_is_cut_by_the_overall_deadline(server: Server) -> None:
    """Each byte arrives within the 0.5 s timeout, so only the overall deadline can stop it."""
    settings = UrlFetchSettings(allow_private=True, timeout_s=0.5)
    started = time.perf_counter()
    assert_error(lambda: fetch_url(f"{server.base}/drip", settings, 10**6, deadline_s=1.0), *URL_ERROR)
    elapsed = time.perf_counter() - started
    assert 0.9 < elapsed < 1.6


def test_connection_refused_is_not_accessible() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connecting is refused
        error = assert_error(lambda: fetch_url(f"http://127.0.0.1:{port}/", PRIVATE_OK, 10), *URL_ERROR)
    assert error.message == "Image URL is not accessible: the server could not be reached."


# --- TLS: SNI and the certificate check use the name, the socket the checked address --------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def tls_server(certificate: tuple[Path, Path]) -> Iterator[Server]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with serve(context) as running:
        yield running


@pytest.fixture
def trusting(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


def test_https_uses_the_name_for_sni_and_the_certificate(
    tls_server: Server, trusting: ssl.SSLContext
) -> None:
    url = f"https://localhost:{tls_server.port}/img.png"
    with observed() as log:
        body = fetch_url(url, UrlFetchSettings(), 10**6, address_allowed=loopback_only, tls_context=trusting)
    assert body == PNG
    assert tls_server.sni[-1] == "localhost"
    assert log.lookups == ["localhost"]


def test_https_certificate_must_match_the_url_host(tls_server: Server, trusting: ssl.SSLContext) -> None:
    url = f"https://127.0.0.1:{tls_server.port}/img.png"  # the certificate names only "localhost"
    error = assert_error(lambda: fetch_url(url, PRIVATE_OK, 10**6, tls_context=trusting), *URL_ERROR)
    assert "certificate" in error.message


def test_https_untrusted_certificate_is_refused(tls_server: Server) -> None:
    url = f"https://localhost:{tls_server.port}/img.png"
    error = assert_error(lambda: fetch_url(url, PRIVATE_OK, 10**6), *URL_ERROR)
    assert "certificate" in error.message


# --- the default policy --------------------------------------------------------------------------------------------

POLICY = [
    ("8.8.8.8", True),
    ("1.1.1.1", True),
    ("2606:4700:4700::1111", True),
    ("127.0.0.1", False),
    ("127.8.9.10", False),
    ("10.0.0.1", False),
    ("172.16.0.1", False),
    ("192.168.1.1", False),
    ("169.254.169.254", False),
    ("100.64.0.1", False),
    ("0.0.0.0", False),
    ("224.0.0.1", False),
    ("240.0.0.1", False),
    ("255.255.255.255", False),
    ("::1", False),
    ("::", False),
    ("fe80::1", False),
    ("fc00::1", False),
    ("ff02::1", False),
    ("::ffff:127.0.0.1", False),
    ("::ffff:169.254.169.254", False),
    ("64:ff9b::7f00:1", False),
    ("2002:a9fe:a9fe::1", False),
    ("2002:808:808::1", True),  # 6to4 of a public address
]


@pytest.mark.parametrize(("text", "public"), POLICY)
def test_is_public_address(text: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(text)) is public
