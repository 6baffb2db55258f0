"""uvicorn's h11 protocol with a header read timeout: a client that has not sent a whole request line and headers
within ``header_timeout_s`` of connecting (or of starting the next request on a keep-alive connection) is dropped,
so slow-header clients (slowloris) cannot hold connections. Body read timeouts are the guard's
(:mod:`imagelens.api.middleware`), header size is uvicorn's ``h11_max_incomplete_event_size``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


class _HeaderTimeoutProtocol(H11Protocol):
    header_timeout_s = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm()

    def _waiting_for_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._on_header_timeout)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        if self._waiting_for_headers() and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        before = self.cycle
        super().data_received(data)
        if self.cycle is not before or not self._waiting_for_headers():
            self._disarm()  # a request's headers arrived

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request's headers must come in time too (keep-alive closes idle ones first)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


def protocol_class(header_timeout_s: float) -> type[Any]:
    return type("ImagelensH11Protocol", (_HeaderTimeoutProtocol,), {"header_timeout_s": header_timeout_s})
