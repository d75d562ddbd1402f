"""Outbound calls can't be aimed inside the network: webhook URLs are checked as written (ingest, policy load)
and after DNS at connect time, pinned to the checked address; redirects fail; URLs are redacted; the status API
reports categories. Generated spellings of forbidden and public addresses prove the address policy."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import socket
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx
import pytest
import trustme
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AnyHttpUrl, TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from blocks.ids import ActionId
from bot.config import ConfigError, load_settings
from bot.outbound import (
    ALLOW_ALL,
    BLOCKED_ADDRESS,
    INVALID_URL,
    IPAddress,
    OutboundRules,
    address_refusal,
    ip_literal,
    parse_allowed_hosts,
    redact_url,
    url_refusal,
)
from bot.outbound_http import BlockedAddress, DnsFailed, PinnedBackend, webhook_client
from bot.policy import PolicyError, parse_policy
from bot.services.webhooks import failure_category, transport_category
from slack_emulator.webapi import serve_asgi
from tests.support import ISSUE_POLICY_YAML, Harness, serve_hitl
from tests.test_review_loop import open_modal

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STRICT = OutboundRules()
HOOK_NAME = "hooks.hitl.example"
# Generated inputs tried per property (printed at the end of the module with `pytest -s`).
TRIED: Counter[str] = Counter()


# ---------------------------------------------------------------------------------------------- spellings


def _number(value: int, style: str, zeros: int, upper: bool) -> str:
    if style == "hex":
        text = "0x" + "0" * zeros + format(value, "x")
        return text.upper() if upper else text
    if style == "octal":
        return "0" + "0" * zeros + format(value, "o")
    return str(value)


@st.composite
def ipv4_spelling(draw: st.DrawFn, address: ipaddress.IPv4Address) -> str:
    """Any inet_aton spelling: 1-4 parts (the last one fills the remaining bytes), each decimal, hex or octal."""
    parts = draw(st.integers(1, 4))
    octets = list(address.packed)
    values = [*octets[: parts - 1], int.from_bytes(bytes(octets[parts - 1 :]), "big")]
    styles = st.sampled_from(["decimal", "hex", "octal"])
    return ".".join(_number(v, draw(styles), draw(st.integers(0, 3)), draw(st.booleans())) for v in values)


@st.composite
def ipv6_spelling(draw: st.DrawFn, address: ipaddress.IPv6Address) -> str:
    text = draw(
        st.sampled_from(
            [address.compressed, address.exploded, ":".join(f"{int(h, 16):x}" for h in address.exploded.split(":"))]
        )
    )
    return text.upper() if draw(st.booleans()) else text


@st.composite
def embedding_spelling(draw: st.DrawFn, inner: ipaddress.IPv4Address) -> str:
    """IPv6 forms that carry an IPv4 address: mapped (dotted or hex), NAT64, 6to4."""
    dotted = str(inner)
    high, low = divmod(int(inner), 1 << 16)
    form = draw(
        st.sampled_from(
            [
                f"::ffff:{dotted}",
                f"::ffff:{high:x}:{low:x}",
                f"0:0:0:0:0:ffff:{dotted}",
                f"0000:0000:0000:0000:0000:FFFF:{high:04X}:{low:04X}",
                f"64:ff9b::{dotted}",
                f"2002:{high:x}:{low:x}::1",
            ]
        )
    )
    return form


@st.composite
def url_around(draw: st.DrawFn, host: str, *, bracket: bool) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "Https"]))
    host_part = f"[{host}]" if bracket else host + draw(st.sampled_from(["", "."]))
    port = draw(st.sampled_from(["", ":80", ":8080", ":443"]))
    tail = draw(st.sampled_from(["", "/", "/hook", "/a/b?x=1", "/?token=t#frag"]))
    userinfo = draw(st.sampled_from(["", "", "", "good.example.com@", "user:pw@"]))
    return f"{scheme}://{userinfo}{host_part}{port}{tail}"


FORBIDDEN_V4 = [
    ipaddress.IPv4Network(n)
    for n in (
        "127.0.0.0/8",
        "10.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "0.0.0.0/8",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "198.18.0.0/15",
        "192.0.2.0/24",
    )
]
FORBIDDEN_V6 = [
    ipaddress.IPv6Network(n)
    for n in (
        "::1/128",
        "::/128",
        "fe80::/10",
        "fc00::/7",
        "ff00::/8",
        "fec0::/10",
        "2001:db8::/32",
        "100::/64",
        "::/96",
    )
]
PUBLIC_V6 = [
    ipaddress.IPv6Network(n)
    for n in ("2001:4860::/32", "2a00::/12", "2600::/12", "2400::/12", "2c00::/12", "2800::/12")
]
# Stricter than the standard library's is_global, on purpose (bot/outbound.py says why).
STRICTER_THAN_STDLIB = [ipaddress.IPv4Network("192.0.0.0/24"), ipaddress.IPv4Network("192.88.99.0/24")]


def address_in(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> st.SearchStrategy[Any]:
    cls = ipaddress.IPv4Address if network.version == 4 else ipaddress.IPv6Address
    return st.integers(int(network.network_address), int(network.broadcast_address)).map(cls)


forbidden_v4 = st.sampled_from(FORBIDDEN_V4).flatmap(address_in)
public_v4 = (
    st.integers(0, 2**32 - 1)
    .map(ipaddress.IPv4Address)
    .filter(lambda a: a.is_global and not a.is_multicast and not any(a in n for n in STRICTER_THAN_STDLIB))
)


@st.composite
def forbidden_url(draw: st.DrawFn) -> tuple[str, str]:
    kind = draw(st.sampled_from(["v4", "v4", "embedded", "v6"]))
    if kind == "v4":
        return draw(url_around(draw(forbidden_v4.flatmap(ipv4_spelling)), bracket=False)), kind
    if kind == "embedded":
        return draw(url_around(draw(forbidden_v4.flatmap(embedding_spelling)), bracket=True)), kind
    return draw(
        url_around(draw(st.sampled_from(FORBIDDEN_V6).flatmap(address_in).flatmap(ipv6_spelling)), bracket=True)
    ), kind


@st.composite
def public_url(draw: st.DrawFn) -> tuple[str, str]:
    kind = draw(st.sampled_from(["v4", "v4", "embedded", "v6"]))
    if kind == "v4":
        host = draw(public_v4.flatmap(ipv4_spelling))
    elif kind == "embedded":
        host = draw(public_v4.flatmap(embedding_spelling))
    else:
        host = draw(st.sampled_from(PUBLIC_V6).flatmap(address_in).flatmap(ipv6_spelling))
    scheme = draw(st.sampled_from(["http", "https"]))
    return f"{scheme}://{f'[{host}]' if ':' in host else host}/hook", kind


# ---------------------------------------------------------------------------------------------- helpers


@dataclass
class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Stands in for the socket layer: records where the pinned backend connects, connects nowhere."""

    connected: list[str] = field(default_factory=list)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connected.append(host)
        raise httpcore.ConnectError("recorded, not connected")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def numeric_resolver(host: str, port: int) -> list[IPAddress]:
    """The C library's reading of a numeric host, without DNS (the sandbox has none)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError) as exc:
        raise DnsFailed(str(exc)) from None
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def table_resolver(table: dict[str, list[str]]) -> Any:
    async def resolve(host: str, port: int) -> list[IPAddress]:
        if host not in table:
            raise DnsFailed(f"{host} does not resolve")
        return [ipaddress.ip_address(a) for a in table[host]]

    return resolve


def connect_through_pin(
    host: str, rules: OutboundRules = STRICT, resolver: Any = numeric_resolver
) -> tuple[str, list[str]]:
    """Open a connection the way httpcore does; returns how it ended and where the socket layer was asked to go."""
    inner = RecordingBackend()
    backend = PinnedBackend(rules, resolver, inner)
    try:
        asyncio.run(backend.connect_tcp(host, 80))
    except BlockedAddress:
        return "blocked", inner.connected
    except DnsFailed:
        return "dns_failed", inner.connected
    except httpcore.ConnectError:
        return "connected", inner.connected
    return "unexpected", inner.connected


def httpx_host(url: str) -> str:
    return httpx.URL(url).raw_host.decode("ascii")


def pydantic_normalised(url: str) -> str | None:
    """What ingest stores (pydantic's WHATWG parser rewrites numeric hosts); None when it refuses the URL."""
    try:
        return str(TypeAdapter(AnyHttpUrl).validate_python(url))
    except ValidationError:
        return None


@pytest.fixture(scope="module", autouse=True)
def _report_counts() -> Iterator[None]:
    yield
    if TRIED:
        total = sum(count for name, count in TRIED.items() if not name.startswith("(of which"))
        print(
            "\ngenerated inputs tried: "
            + ", ".join(f"{name} {count}" for name, count in sorted(TRIED.items()))
            + f"; total {total}"
        )


# ------------------------------------------------------------------------------------ the address policy, generated


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(forbidden_url())
def test_every_spelling_of_a_forbidden_address_is_refused_on_every_path(case: tuple[str, str]) -> None:
    url, kind = case
    TRIED[f"forbidden {kind}"] += 1
    # As written (policy load; and the host httpx will connect to, whatever userinfo says).
    assert url_refusal(url, STRICT) is not None, url
    try:
        host = httpx_host(url)
    except httpx.InvalidURL:
        TRIED["(of which httpx cannot send) forbidden"] += 1
        return
    literal = ip_literal(host)
    assert literal is not None and address_refusal(literal) is not None, url
    # As ingest stores it (pydantic normalises first), refused there or at the check after it.
    stored = pydantic_normalised(url)
    assert stored is None or url_refusal(stored, STRICT) is not None, (url, stored)
    # At connect time: the socket layer is never asked to go there.
    for target in {host, httpx_host(stored)} if stored else {host}:
        outcome, connected = connect_through_pin(target)
        assert outcome == "blocked" and connected == [], (url, target, outcome)


@settings(max_examples=1500, deadline=None)
@given(public_url())
def test_public_addresses_are_allowed_and_pinned(case: tuple[str, str]) -> None:
    url, kind = case
    TRIED[f"public {kind}"] += 1
    stored = pydantic_normalised(url)
    assert stored is not None and url_refusal(stored, STRICT) is None, (url, stored)
    try:
        host = httpx_host(url)
    except httpx.InvalidURL:
        # A spelling httpx cannot send (`010.0.0.1`: leading zeros in dotted quads) is refused as invalid.
        TRIED["(of which httpx cannot send) public"] += 1
        assert url_refusal(url, STRICT) == (INVALID_URL, url_refusal(url, STRICT).message)  # type: ignore[union-attr]
        return
    assert url_refusal(url, STRICT) is None, url
    outcome, connected = connect_through_pin(host)
    assert outcome == "connected" and connected == [str(ip_literal(host))], (url, connected)


@settings(max_examples=1000, deadline=None)
@given(st.text("0123456789abcdefxX.", min_size=1, max_size=24))
def test_numeric_hosts_are_read_as_the_c_library_reads_them(host: str) -> None:
    TRIED["inet_aton cross-check"] += 1
    try:
        expected: ipaddress.IPv4Address | None = ipaddress.IPv4Address(socket.inet_aton(host.lower().removesuffix(".")))
    except OSError:
        expected = None
    assert ip_literal(host) == expected


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.one_of(public_v4, forbidden_v4, st.sampled_from(FORBIDDEN_V6).flatmap(address_in)), min_size=1, max_size=6
    ),
)
def test_a_name_is_refused_if_any_of_its_addresses_is_forbidden(addresses: list[Any]) -> None:
    TRIED["resolved address lists"] += 1
    outcome, connected = connect_through_pin(
        HOOK_NAME, resolver=table_resolver({HOOK_NAME: [str(a) for a in addresses]})
    )
    if any(address_refusal(a) for a in addresses):
        assert outcome == "blocked" and connected == []
    else:
        # Only checked addresses are dialled, in the resolver's order.
        assert outcome == "connected" and connected == [str(a) for a in dict.fromkeys(addresses)][:3]


@settings(max_examples=300, deadline=None)
@given(
    # Values start with "Zq": nothing else in the URL has an upper-case Z, so a leak cannot hide in a name.
    st.lists(
        st.tuples(
            st.text("abcdefghijklmnopqrstuvwxyz_-", min_size=1, max_size=12),
            st.text(st.characters(codec="ascii", exclude_characters="&#=% "), min_size=4, max_size=30).map(
                lambda v: "Zq" + v
            ),
        ),
        min_size=1,
        max_size=5,
    ),
    st.booleans(),
)
def test_redacted_urls_keep_no_query_value_or_password(params: list[tuple[str, str]], userinfo: bool) -> None:
    TRIED["redaction"] += 1
    query = "&".join(f"{name}={httpx.URL('', params={'v': value}).query.decode()[2:]}" for name, value in params)
    url = f"https://{'bob:hunter2-pass@' if userinfo else ''}hooks.example.com/h?{query}"
    redacted = redact_url(url)
    assert "hunter2" not in redacted and redacted.startswith("https://")
    for name, value in params:
        assert value not in redacted and f"{name}=***" in redacted


# ------------------------------------------------------------------------------------ the address policy, by example


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://0x7f.1/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[::1]/",
        "http://0/",
        "http://[::]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://metadata.google.internal/",
        "http://METADATA.GOOGLE.INTERNAL./",
        "http://metadata/",
        "http://instance-data/",
        "http://localhost/",
        "http://localhost./",
        "http://api.localhost/",
        "http://printer.local/",
        "http://db.internal/",
        "http://redis/",
        "http://good.example.com@127.0.0.1/",
        "http://127.0.0.1%2f@good.example.com/",
        "http://127。0。0。1/",
        "http://①②⑦.0.0.1/",
        "http://%31%32%37.0.0.1/",
        "ftp://example.com/",
        "http://[64:ff9b::10.0.0.1]/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://[fe80::1%25eth0]/",
    ],
)
def test_known_tricks_are_refused_as_written(url: str) -> None:
    stored = pydantic_normalised(url)
    assert url_refusal(url, STRICT) is not None
    assert stored is None or url_refusal(stored, STRICT) is not None


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/h", "https://bücher.de/x", "http://8.8.8.8:8080/", "https://[2606:4700::1111]/"]
)
def test_public_urls_pass(url: str) -> None:
    assert url_refusal(url, STRICT) is None


def test_userinfo_is_refused_even_when_private_addresses_are_allowed() -> None:
    refusal = url_refusal("https://user:secret@hooks.example.com/", ALLOW_ALL)
    assert refusal is not None and refusal.category == INVALID_URL and "secret" not in refusal.message


def test_the_allow_list_takes_names_and_cidrs() -> None:
    hosts, networks = parse_allowed_hosts("Hooks.Corp.Example., 10.20.0.0/16, fd00::/8, 127.0.0.1")
    rules = OutboundRules(hosts=hosts, networks=networks)
    assert url_refusal("http://hooks.corp.example/", rules) is None
    assert url_refusal("http://10.20.3.4/", rules) is None and url_refusal("http://10.21.0.1/", rules) is not None
    assert url_refusal("http://[::ffff:10.20.0.9]/", rules) is None
    assert url_refusal("http://2130706433/", rules) is None
    assert connect_through_pin(
        "hooks.corp.example", rules, table_resolver({"hooks.corp.example": ["192.168.1.5"]})
    ) == ("connected", ["192.168.1.5"])
    assert (
        connect_through_pin("other.example", rules, table_resolver({"other.example": ["10.20.0.1", "10.99.0.1"]}))[0]
        == "blocked"
    )


@pytest.mark.parametrize(
    "value",
    [
        "10.0.0.1/8",
        "hooks.example.com:8443",
        "https://hooks.example.com",
        "user@hooks.example.com",
        "a b",
        "10.0.0.0/33",
    ],
)
def test_a_bad_allow_list_stops_start_up_with_one_line(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(HITL_WEBHOOK_ALLOWED_HOSTS=value)
    assert str(caught.value).startswith("HITL_WEBHOOK_ALLOWED_HOSTS: ") and "\n" not in str(caught.value)


def test_a_bad_allow_private_stops_start_up_with_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^HITL_WEBHOOK_ALLOW_PRIVATE: "):
        load_settings(HITL_WEBHOOK_ALLOW_PRIVATE="maybe")


def test_hitl_dev_allows_local_receivers(tmp_path: Any) -> None:
    from bot.dev import dev_settings

    assert dev_settings(tmp_path / "d.db", "http://127.0.0.1:1", "t", "s").outbound_rules.allow_private


def test_redaction_examples() -> None:
    assert (
        redact_url("https://u:p@h.example.com:8443/p/x?token=abc&sig=def&page=2#f")
        == "https://***@h.example.com:8443/p/x?token=***&sig=***&page=***"
    )
    assert redact_url("/relative?token=x") == redact_url("http://[::1") == "(invalid URL)"


@pytest.mark.parametrize(
    ("stored", "category"),
    [
        (None, None),
        ("http_503", "http_503"),
        ("given up: http_410: the receiver answered 410", "http_410"),
        ("timeout", "timeout"),
        ("given up: blocked_address: h resolves to 10.0.0.1, a private address", BLOCKED_ADDRESS),
        ("given up: redirect: …", "redirect"),
        ("ConnectError", "failed"),
        ("given up: expired: not delivered within 1d", "expired"),
    ],
)
def test_stored_errors_read_back_as_categories(stored: str | None, category: str | None) -> None:
    assert failure_category(stored) == category


# ---------------------------------------------------------------------------------------------- the transport


def test_dns_rebinding_cannot_move_a_checked_connection() -> None:
    """The resolver answers public, then loopback: each connection dials only what its own lookup answered
    and was checked; the loopback answer is refused, never dialled."""
    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    calls: list[str] = []

    async def rebinding(host: str, port: int) -> list[IPAddress]:
        calls.append(host)
        return [ipaddress.ip_address(a) for a in next(answers)]

    inner = RecordingBackend()
    backend = PinnedBackend(STRICT, rebinding, inner)

    async def twice() -> None:
        with pytest.raises(httpcore.ConnectError):
            await backend.connect_tcp(HOOK_NAME, 443)
        with pytest.raises(BlockedAddress):
            await backend.connect_tcp(HOOK_NAME, 443)

    asyncio.run(twice())
    assert calls == [HOOK_NAME, HOOK_NAME] and inner.connected == ["93.184.216.34"]


def test_dns_has_a_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    import bot.outbound_http

    monkeypatch.setattr(bot.outbound_http, "DNS_TIMEOUT_SECONDS", 0.05)

    async def never(host: str, port: int) -> list[IPAddress]:
        await asyncio.sleep(3600)
        return []

    assert connect_through_pin(HOOK_NAME, resolver=never) == ("dns_failed", [])


@contextlib.asynccontextmanager
async def tls_server(ca: trustme.CA, name: str) -> AsyncIterator[tuple[int, list[str]]]:
    """HTTPS on 127.0.0.1 with a certificate for `name` only; records the SNI each handshake asked for."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    sni: list[str] = []
    context.sni_callback = lambda _sock, server_name, _ctx: sni.append(server_name)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length: *(\d+)", head)
                await reader.readexactly(int(length.group(1)) if length else 0)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    async with server:
        yield server.sockets[0].getsockname()[1], sni


async def test_tls_uses_the_name_while_connecting_to_the_checked_address() -> None:
    ca = trustme.CA()
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    rules = OutboundRules(hosts=frozenset({"a.hitl.example", "b.hitl.example"}))
    resolver = table_resolver({"a.hitl.example": ["127.0.0.1"], "b.hitl.example": ["127.0.0.1"]})
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # the server side of the refused handshake
    async with tls_server(ca, "a.hitl.example") as (port, sni):
        async with webhook_client(rules, resolver, trusting) as client:
            answer = await client.post(f"https://a.hitl.example:{port}/hook", content=b"{}")
            assert answer.status_code == 200 and sni == ["a.hitl.example"]
            # Same address, kept-alive connection to it: the other name still gets its own, verified, handshake.
            with pytest.raises(httpx.ConnectError) as caught:
                await client.post(f"https://b.hitl.example:{port}/hook", content=b"{}")
            assert transport_category(caught.value) == "tls_failed" and sni == ["a.hitl.example", "b.hitl.example"]


async def test_a_proxy_in_the_environment_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    async with serve_asgi(Starlette(routes=[Route("/", lambda _r: Response("ok"))])) as url:
        async with webhook_client(ALLOW_ALL) as client:
            assert (await client.get(url + "/")).status_code == 200


# ---------------------------------------------------------------------------------------------- end to end


@dataclass
class Receiver:
    url: str = ""
    port: int = 0
    answers: list[Response] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    redirected_hits: int = 0


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def hook(request: Request) -> Response:
        state.hosts.append(request.headers["host"])
        await request.body()
        return state.answers.pop(0) if state.answers else Response(status_code=204)

    async def elsewhere(_request: Request) -> Response:
        state.redirected_hits += 1
        return Response(status_code=200)

    routes = [Route("/hook", hook, methods=["POST"]), Route("/elsewhere", elsewhere, methods=["POST", "GET"])]
    async with serve_asgi(Starlette(routes=routes)) as url:
        state.url, state.port = f"{url}/hook", int(url.rsplit(":", 1)[1])
        yield state


@contextlib.asynccontextmanager
async def strict_hitl(
    db_url: str, emulator: Any, clock: Any, receiver: Receiver, **settings: Any
) -> AsyncIterator[Harness]:
    """hitl with the production default (private addresses refused) and a resolver that says HOOK_NAME is
    127.0.0.1, where the receiver listens."""
    resolver = table_resolver({HOOK_NAME: ["127.0.0.1"]})
    async with serve_hitl(
        db_url,
        emulator,
        clock,
        resolver=resolver,
        HITL_WEBHOOK_ALLOW_PRIVATE=False,
        HITL_WEBHOOK_SECRET=SECRET,
        **settings,
    ) as h:
        yield h


async def approve(h: Harness, case_id: str = "case-1") -> None:
    view = await open_modal(h, "U0SME1", case_id, ActionId.APPROVE)
    await h.slack.submit_view("U0SME1", view["id"], {})
    await h.settle()


async def test_a_name_resolving_to_loopback_is_refused_and_never_reached(
    db_url: str, emulator: Any, clock: Any, receiver: Receiver
) -> None:
    from datetime import timedelta

    async with strict_hitl(db_url, emulator, clock, receiver) as h:
        assert (
            await h.escalate(callback_url=f"http://{HOOK_NAME}:{receiver.port}/hook?token=s3cret")
        ).status_code == 201
        await approve(h)
        clock.advance(timedelta(hours=1))
        await h.settle()
        [hook] = (await h.status("case-1"))["webhooks"]
        assert hook["state"] == "failed" and hook["last_error"] == BLOCKED_ADDRESS and hook["attempts"] == 1
        assert hook["url"] == f"http://{HOOK_NAME}:{receiver.port}/hook?token=***"
        assert receiver.hosts == []


async def test_an_allow_listed_name_is_delivered_to_the_checked_address(
    db_url: str, emulator: Any, clock: Any, receiver: Receiver
) -> None:
    async with strict_hitl(db_url, emulator, clock, receiver, HITL_WEBHOOK_ALLOWED_HOSTS=HOOK_NAME) as h:
        assert (await h.escalate(callback_url=f"http://{HOOK_NAME}:{receiver.port}/hook")).status_code == 201
        await approve(h)
        [hook] = (await h.status("case-1"))["webhooks"]
        assert hook["state"] == "delivered"
        # The name is unknown to every real resolver: only the pinned 127.0.0.1 can have reached the receiver.
        assert receiver.hosts == [f"{HOOK_NAME}:{receiver.port}"]


async def test_forbidden_callback_urls_are_422_at_ingest(
    db_url: str, emulator: Any, clock: Any, receiver: Receiver
) -> None:
    async with strict_hitl(db_url, emulator, clock, receiver) as h:
        for index, url in enumerate(
            [
                "http://[::ffff:127.0.0.1]/",
                "http://2130706433/",
                "http://localhost:8080/",
                "http://metadata.google.internal/",
                "http://169.254.169.254/",
                "http://good.example.com@10.0.0.1/",
            ]
        ):
            response = await h.escalate(case_id=f"bad-{index}", callback_url=url)
            assert response.status_code == 422, (url, response.text)
            [problem] = response.json()["fields"]
            assert problem["field"] == "callback_url" and problem["message"], url
        # A name is resolved only when the webhook is sent: ingest does no DNS.
        assert (await h.escalate(case_id="named", callback_url="https://hooks.example.com/x")).status_code == 201


async def test_an_allow_listed_cidr_admits_a_private_callback(
    db_url: str, emulator: Any, clock: Any, receiver: Receiver
) -> None:
    async with strict_hitl(db_url, emulator, clock, receiver, HITL_WEBHOOK_ALLOWED_HOSTS="127.0.0.0/8") as h:
        assert (await h.escalate(callback_url=receiver.url)).status_code == 201
        await approve(h)
        assert (await h.status("case-1"))["webhooks"][0]["state"] == "delivered" and len(receiver.hosts) == 1


async def test_a_redirect_is_a_failure_not_a_delivery(hitl: Harness, receiver: Receiver) -> None:
    from pydantic import SecretStr

    hitl.rt.settings.webhook_secret = SecretStr(SECRET)
    receiver.answers = [Response(status_code=302, headers={"Location": receiver.url.replace("/hook", "/elsewhere")})]
    await hitl.escalate(callback_url=receiver.url)
    await approve(hitl)
    [hook] = (await hitl.status("case-1"))["webhooks"]
    assert hook["state"] == "failed" and hook["last_error"] == "redirect"
    assert len(receiver.hosts) == 1 and receiver.redirected_hits == 0


async def test_status_reports_categories_and_logs_keep_no_secret(
    hitl: Harness, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    from datetime import timedelta

    from pydantic import SecretStr

    caplog.set_level(logging.INFO)
    hitl.rt.settings.webhook_secret = SecretStr(SECRET)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    await hitl.escalate(case_id="refused", callback_url=f"http://127.0.0.1:{dead_port}/hook?token=s3cret")
    receiver.answers = [Response(status_code=503, headers={"Retry-After": "1"})]
    await hitl.escalate(case_id="busy", callback_url=f"{receiver.url}?api_key=k3y&page=2")
    await approve(hitl, "refused")
    await approve(hitl, "busy")
    refused = (await hitl.status("refused"))["webhooks"][0]
    busy = (await hitl.status("busy"))["webhooks"][0]
    assert refused["state"] == "pending" and refused["last_error"] == "connect_failed"
    assert busy["state"] == "pending" and busy["last_error"] == "http_503"
    assert refused["url"].endswith("/hook?token=***") and busy["url"].endswith("/hook?api_key=***&page=***")
    clock = hitl.clock
    clock.advance(timedelta(seconds=10))
    await hitl.settle()
    assert (await hitl.status("busy"))["webhooks"][0]["state"] == "delivered"
    # httpx logged the delivery (INFO, with the URL): redacted.
    assert "api_key=***" in caplog.text
    assert "s3cret" not in caplog.text and "k3y" not in caplog.text


def test_policy_webhook_urls_are_checked_at_load() -> None:
    data = yaml.safe_load(ISSUE_POLICY_YAML)
    data["queues"][1]["webhook_url"] = "http://169.254.169.254/latest"
    data["ops"]["webhook_url"] = "http://[::ffff:10.0.0.1]/"
    with pytest.raises(PolicyError) as caught:
        parse_policy(data, "hitl.yml")
    lines = str(caught.value).splitlines()
    assert lines[0].startswith("hitl.yml: queues[1].webhook_url: ") and "link-local" in lines[0]
    assert lines[1].startswith("hitl.yml: ops.webhook_url: ") and len(lines) == 2
    assert parse_policy(data, "hitl.yml", ALLOW_ALL).ops.webhook_url is not None  # type: ignore[union-attr]


def test_check_policy_stops_with_the_place(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    data = yaml.safe_load(ISSUE_POLICY_YAML)
    data["queues"][0]["webhook_url"] = "http://localhost:9000/hook"
    path = tmp_path / "hitl.yml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.delenv("HITL_WEBHOOK_ALLOW_PRIVATE", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    assert main(["check-policy", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"hitl: {path}: queues[0].webhook_url: ") and "\n" not in error
    monkeypatch.setenv("HITL_WEBHOOK_ALLOW_PRIVATE", "true")
    assert main(["check-policy", str(path)]) == 0
