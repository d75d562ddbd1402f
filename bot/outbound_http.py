"""The HTTP client for webhooks: each connection is checked and pinned to the address that was checked.

httpcore opens every connection through a network backend's `connect_tcp(host, port)`. `PinnedBackend`
resolves the host itself (every A/AAAA, off the event loop, with a timeout), refuses the connection when any
answer is forbidden (`bot.outbound`), and connects to a checked address: DNS answering differently a moment
later (rebinding) cannot move the connection. TLS still runs on the pool's side with the URL's name (SNI and
certificate verification), and the pool keys connections by that name, so a kept-alive connection is never
reused for another name that happens to share the address. (Rewriting the request URL to the address instead
would key the pool by address and hand one name's TLS connection to another.)
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import typing
from collections.abc import Awaitable, Callable

import httpcore
import httpx

from bot.outbound import IPAddress, OutboundRules, ip_literal, redact_url, resolved_refusal

# Resolve a host name to its addresses (the system resolver by default; tests inject their own).
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

DNS_TIMEOUT_SECONDS = 5.0
POOL_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
# A name with many addresses is tried on at most this many (all of them were checked).
MAX_ADDRESSES_TRIED = 3
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class BlockedAddress(Exception):
    """The destination is inside the network (or a forbidden name): never retried."""


class DnsFailed(Exception):
    """The name did not resolve (in time)."""


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:  # socket.gaierror, or a name IDNA cannot encode (empty label)
        raise DnsFailed(f"{host} does not resolve: {exc}") from None
    return [ip for info in infos if (ip := ip_literal(str(info[4][0]))) is not None]


class PinnedBackend(httpcore.AsyncNetworkBackend):
    def __init__(
        self,
        rules: OutboundRules,
        resolver: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.rules = rules
        self.resolver = resolver
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.checked_addresses(host, port)
        failure: Exception | None = None
        for address in addresses[:MAX_ADDRESSES_TRIED]:
            try:
                return await self.inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def checked_addresses(self, host: str, port: int) -> list[IPAddress]:
        """Every address the host stands for, or BlockedAddress if any of them is forbidden."""
        literal = ip_literal(host)
        addresses = [literal] if literal is not None else await self._resolve(host, port)
        refusal = resolved_refusal(host, addresses, self.rules)
        if refusal:
            raise BlockedAddress(refusal)
        return list(dict.fromkeys(addresses))

    async def _resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            return await asyncio.wait_for(self.resolver(host, port), timeout=DNS_TIMEOUT_SECONDS)
        except TimeoutError:
            raise DnsFailed(f"{host} did not resolve within {DNS_TIMEOUT_SECONDS:.0f}s") from None

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("webhooks never go to a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (request and response mapping, error types) over a pool using `PinnedBackend`."""

    def __init__(
        self, backend: PinnedBackend, ssl_context: ssl.SSLContext | None = None, limits: httpx.Limits = POOL_LIMITS
    ) -> None:
        super().__init__(trust_env=False, limits=limits)
        # httpx has no public way to choose the pool's network backend; swap the pool it built, loudly if an
        # httpx upgrade changed that attribute.
        if not isinstance(getattr(self, "_pool", None), httpcore.AsyncConnectionPool):
            raise RuntimeError(
                "httpx.AsyncHTTPTransport no longer keeps an httpcore pool in _pool: review bot/outbound_http.py"
            )
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


def webhook_client(
    rules: OutboundRules, resolver: Resolver = system_resolver, ssl_context: ssl.SSLContext | None = None
) -> httpx.AsyncClient:
    """Redirects are not followed (a 3xx is a failed delivery), and nothing comes from the environment (proxies,
    .netrc): a proxy would be the only address ever checked. `ssl_context`: the system's CAs by default."""
    redact_httpx_logs()
    transport = PinnedTransport(PinnedBackend(rules, resolver), ssl_context)
    return httpx.AsyncClient(transport=transport, timeout=TIMEOUT, follow_redirects=False, trust_env=False)


class RedactUrls(logging.Filter):
    """httpx logs every request's URL at INFO; a URL may carry a secret in its query or userinfo."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_url(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args)
        return True


def redact_httpx_logs() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactUrls) for f in logger.filters):
        logger.addFilter(RedactUrls())
