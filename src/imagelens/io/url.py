"""Fetch an image URL without becoming a proxy into the private network (SSRF).

The service fetches URLs its callers choose, so a URL must not reach what only the server can reach: loopback,
the private network, the cloud metadata endpoint (169.254.169.254). The defences, each for a known bypass:

* the host is resolved once, every address is checked, and the socket is connected to a checked address (the
  Host header, SNI and certificate check still use the name) -- a second lookup could be answered differently
  (DNS rebinding);
* IPv4 addresses embedded in IPv6 ones (``::ffff:127.0.0.1``, 6to4, NAT64) are checked as the IPv4 they carry;
* redirects are followed by hand, each hop re-checked (scheme and address), so a public URL cannot bounce to a
  private one;
* a per-operation timeout, an overall deadline enforced by a watchdog that shuts the socket down (a server that
  drips one byte at a time cannot hold a worker), and a byte cap.

Standard library only (http.client, ssl, socket): no proxy settings from the environment are honoured on purpose.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, urljoin, urlsplit

from imagelens.config import UrlFetchSettings
from imagelens.errors import InvalidImageSizeError, InvalidImageUrlError

__all__ = [
    "DEADLINE_FACTOR",
    "Address",
    "AddressPolicy",
    "IPAddress",
    "Sink",
    "fetch_url",
    "fetch_url_to",
    "is_public_address",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
IPAddress = Address  # alias: the name some callers use
AddressPolicy = Callable[[Address], bool]
#: Receives a body chunk by chunk (:func:`fetch_url_to`); whatever it raises ends the fetch.
Sink = Callable[[bytes], None]

#: Without an explicit ``deadline_s`` the whole fetch (every hop) may take this many times ``timeout_s``.
DEADLINE_FACTOR = 3.0

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_HOST_CHARS = re.compile(r"^[A-Za-z0-9._~:%-]+$")


def is_public_address(address: Address) -> bool:
    """The default policy: only globally routable unicast addresses.

    Refuses private, loopback, link-local (169.254.0.0/16, fe80::/10), multicast, reserved, unspecified and shared
    (100.64.0.0/10) addresses, and IPv6 addresses that carry one of those as an embedded IPv4 address.
    """
    embedded = _embedded_ipv4(address)
    if embedded is not None and not is_public_address(embedded):
        return False
    refused = (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )
    return not refused and address.is_global


def fetch_url(
    url: str,
    settings: UrlFetchSettings,
    max_bytes: int,
    *,
    address_allowed: AddressPolicy | None = None,
    deadline_s: float | None = None,
    tls_context: ssl.SSLContext | None = None,
) -> bytes:
    """GET an http(s) URL and return its body, following at most ``settings.max_redirects`` redirects.

    ``address_allowed`` decides which resolved addresses may be contacted; without it the policy is
    :func:`is_public_address`, or everything when ``settings.allow_private`` is true. ``settings.timeout_s`` bounds
    each connect and read; ``deadline_s`` bounds the whole fetch (default ``DEADLINE_FACTOR * timeout_s``).
    ``tls_context`` replaces the default verifying context (e.g. to trust a private CA). Raises
    :class:`InvalidImageUrlError` or, past ``max_bytes``, :class:`InvalidImageSizeError`; messages name the reason
    but not resolved addresses or exception internals.
    """
    body = _fetch(url, settings, max_bytes, address_allowed, deadline_s, tls_context, None)
    assert body is not None
    return body


def fetch_url_to(
    url: str,
    settings: UrlFetchSettings,
    max_bytes: int,
    sink: Sink,
    *,
    address_allowed: AddressPolicy | None = None,
    deadline_s: float | None = None,
    tls_context: ssl.SSLContext | None = None,
) -> None:
    """:func:`fetch_url`, but the body goes to ``sink`` chunk by chunk (at most 64 KiB each) instead of being
    gathered in memory: the same address checks, redirects, deadline and byte cap. A failure may come after some
    chunks were written; the caller discards them."""
    _fetch(url, settings, max_bytes, address_allowed, deadline_s, tls_context, sink)


def _fetch(
    url: str,
    settings: UrlFetchSettings,
    max_bytes: int,
    address_allowed: AddressPolicy | None,
    deadline_s: float | None,
    tls_context: ssl.SSLContext | None,
    sink: Sink | None,
) -> bytes | None:
    allowed = _policy(settings, address_allowed)
    budget = deadline_s if deadline_s is not None else DEADLINE_FACTOR * settings.timeout_s
    deadline = time.monotonic() + budget
    context = tls_context if tls_context is not None else _default_tls_context()
    seen: set[str] = set()
    current = url
    for _hop in range(settings.max_redirects + 1):
        target = _parse(current)
        seen.add(target.url)
        outcome = _get(target, settings, max_bytes, allowed, deadline, context, sink)
        if not isinstance(outcome, str):
            return outcome
        following = urljoin(current, outcome)
        if _parse(following).url in seen:
            raise _not_accessible("the redirects form a loop", "redirect_loop")
        current = following
    raise _not_accessible(f"more than {settings.max_redirects} redirects", "too_many_redirects")


# --- parsing and policy ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Target:
    url: str  # normalised: scheme://host:port/path?query, no fragment
    scheme: str
    host: str  # ASCII (IDNA), IPv6 literals without brackets
    port: int
    path: str  # request target: path and query, percent-encoded


def _parse(url: str) -> _Target:
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise _badly_formatted("it contains control characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise _badly_formatted("the host or port is not valid") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"'{scheme}'" if scheme else "none"
        raise _badly_formatted(f"only http and https URLs are accepted, the scheme is {shown}")
    if parts.username is not None or parts.password is not None:
        raise _badly_formatted("credentials in the URL are not accepted")
    host = parts.hostname
    if not host:
        raise _badly_formatted("it has no host")
    try:
        host = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError as exc:
        raise _badly_formatted("the host name is not valid") from exc
    if not _HOST_CHARS.match(host):
        raise _badly_formatted("the host name is not valid")
    if port == 0:
        raise _badly_formatted("port 0 is not valid")
    port = port if port is not None else (443 if scheme == "https" else 80)
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + quote(parts.query, safe="/?%:@!$&'()*+,;=-._~")
    shown_host = f"[{host}]" if ":" in host else host
    return _Target(f"{scheme}://{shown_host}:{port}{path}", scheme, host, port, path)


def _policy(settings: UrlFetchSettings, address_allowed: AddressPolicy | None) -> AddressPolicy:
    if address_allowed is not None:
        return address_allowed
    if settings.allow_private:
        return lambda _address: True
    return is_public_address


def _embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _resolve(
    target: _Target, allowed: AddressPolicy
) -> list[tuple[socket.AddressFamily, tuple[object, ...]]]:
    """Resolve once; refuse the host if ANY of its addresses is refused (an attacker may control the order)."""
    try:
        infos = socket.getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
    except (socket.gaierror, UnicodeError) as exc:
        raise _not_accessible("the host name could not be resolved", "dns") from exc
    resolved: list[tuple[socket.AddressFamily, tuple[object, ...]]] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if not allowed(address):
            raise _not_accessible(
                "the host resolves to an address that is not allowed (private, loopback, link-local or reserved)",
                "address_refused",
            )
        resolved.append((family, tuple(sockaddr)))
    if not resolved:
        raise _not_accessible("the host name could not be resolved", "dns")
    return resolved


# --- the request ---------------------------------------------------------------------------------------------------


class _Watchdog:
    """Shuts a socket down at the overall deadline, which unblocks any read or handshake stuck on it."""

    def __init__(self, deadline: float) -> None:
        self._deadline = deadline
        self._timer: threading.Timer | None = None
        self.fired = False

    def watch(self, sock: socket.socket) -> None:
        self._timer = threading.Timer(max(0.0, self._deadline - time.monotonic()), self._fire, args=(sock,))
        self._timer.daemon = True
        self._timer.start()

    def _fire(self, sock: socket.socket) -> None:
        self.fired = True
        with contextlib.suppress(OSError):  # already closed: nothing left to stop
            sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection whose socket goes to the addresses we checked, never to a fresh lookup of the name.

    ``host`` stays the name from the URL, so the Host header, SNI and the certificate check use it.
    """

    def __init__(
        self,
        target: _Target,
        addresses: list[tuple[socket.AddressFamily, tuple[object, ...]]],
        timeout: float,
        deadline: float,
        watchdog: _Watchdog,
        tls_context: ssl.SSLContext | None,
    ) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.default_port = 443 if tls_context is not None else 80  # the Host header omits a default port
        self._addresses = addresses
        self._deadline = deadline
        self._watchdog = watchdog
        self._tls_context = tls_context
        self.pinned_sock: socket.socket | None = None

    def connect(self) -> None:
        sock = self._connect_first()
        if self._tls_context is not None:
            try:
                # The handshake waits until the watchdog watches the TLS socket (it owns the descriptor now).
                sock = self._tls_context.wrap_socket(
                    sock, server_hostname=self.host, do_handshake_on_connect=False
                )
            except BaseException:
                sock.close()
                raise
        self.pinned_sock = sock
        self._watchdog.watch(sock)
        if isinstance(sock, ssl.SSLSocket):
            sock.do_handshake()
        self.sock = sock

    def _connect_first(self) -> socket.socket:
        failure: OSError = ConnectionError("no address")
        for family, sockaddr in self._addresses:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("deadline")
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(min(float(self.timeout or remaining), remaining))
                sock.connect(sockaddr)
                sock.settimeout(self.timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return sock
            except OSError as exc:
                sock.close()
                failure = exc
        raise failure


def _get(
    target: _Target,
    settings: UrlFetchSettings,
    max_bytes: int,
    allowed: AddressPolicy,
    deadline: float,
    tls_context: ssl.SSLContext,
    sink: Sink | None = None,
) -> bytes | str | None:
    """One GET: the body (bytes; None when it went to ``sink``) or a redirect's Location (str)."""
    addresses = _resolve(target, allowed)
    if time.monotonic() >= deadline:
        raise _timed_out(settings)
    watchdog = _Watchdog(deadline)
    conn = _PinnedConnection(
        target,
        addresses,
        settings.timeout_s,
        deadline,
        watchdog,
        tls_context if target.scheme == "https" else None,
    )
    try:
        conn.request(
            "GET",
            target.path,
            headers={
                "User-Agent": settings.user_agent,
                "Accept": "image/*, */*;q=0.5",
                "Connection": "close",
            },
        )
        response = conn.getresponse()
        try:
            if response.status in _REDIRECTS:
                location = response.getheader("Location")
                if not location:
                    raise _not_accessible(f"HTTP {response.status} redirect without a Location", "redirect")
                return location.strip()
            if not 200 <= response.status < 300:
                raise _not_accessible(
                    f"the server answered HTTP {response.status}", "http_status", status=response.status
                )
            body = _read_body(response, max_bytes, sink)
        finally:
            response.close()
        if watchdog.fired:  # the deadline cut a close-delimited body: what we have is truncated
            raise _timed_out(settings)
        return body
    except (InvalidImageUrlError, InvalidImageSizeError):
        raise
    except TimeoutError as exc:
        raise _timed_out(settings) from exc
    except ssl.SSLCertVerificationError as exc:
        raise _not_accessible(
            "the server's TLS certificate could not be verified", "tls_certificate"
        ) from exc
    except (ssl.SSLError, http.client.HTTPException, OSError) as exc:
        if watchdog.fired:
            raise _timed_out(settings) from exc
        if isinstance(exc, ssl.SSLError):
            raise _not_accessible("the TLS handshake failed", "tls") from exc
        if isinstance(exc, http.client.HTTPException):
            raise _not_accessible("the server's answer is not valid HTTP", "protocol") from exc
        raise _not_accessible("the server could not be reached", "connection") from exc
    finally:
        watchdog.cancel()
        conn.close()
        if conn.pinned_sock is not None:
            conn.pinned_sock.close()


def _read_body(response: http.client.HTTPResponse, max_bytes: int, sink: Sink | None = None) -> bytes | None:
    declared = response.getheader("Content-Length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes, f"the server declares {int(declared)} bytes")
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = response.read1(
            min(_CHUNK, max_bytes + 1 - total)
        )  # one recv at most: the watchdog can cut it
        if not chunk:
            return b"".join(chunks) if sink is None else None
        total += len(chunk)
        if total > max_bytes:
            raise _too_large(max_bytes, "the body is longer")
        if sink is None:
            chunks.append(chunk)
        else:
            sink(chunk)


@lru_cache(maxsize=1)
def _default_tls_context() -> ssl.SSLContext:
    """Verifying, hostname-checking, system CAs; built once (loading the CA store costs milliseconds)."""
    return ssl.create_default_context()


# --- errors: Azure's wording, a reason, no internals ---------------------------------------------------------------


def _badly_formatted(reason: str) -> InvalidImageUrlError:
    return InvalidImageUrlError(f"Image URL is badly formatted: {reason}.", {"reason": "format"})


def _not_accessible(reason: str, code: str, **detail: object) -> InvalidImageUrlError:
    return InvalidImageUrlError(f"Image URL is not accessible: {reason}.", {"reason": code, **detail})


def _timed_out(settings: UrlFetchSettings) -> InvalidImageUrlError:
    return _not_accessible(
        f"the server did not answer in time (timeout {settings.timeout_s:g} s per operation)", "timeout"
    )


def _too_large(max_bytes: int, why: str) -> InvalidImageSizeError:
    return InvalidImageSizeError(
        f"The image size is not allowed to be zero or larger than {max_bytes} bytes; {why}.",
        {"max_bytes": max_bytes},
    )
