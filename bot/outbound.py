"""Where hitl may send HTTP requests: the address policy for webhook URLs (`callback_url`, the policy's
`webhook_url`s), pure functions only. The transport that applies it at connect time is `bot.outbound_http`.

A webhook URL comes from outside (an LLM system's escalation), so it must not be able to aim hitl at its own
network: loopback, private and link-local ranges, cloud metadata endpoints and the like are refused, in every
spelling a resolver accepts (`2130706433`, `0x7f.1`, `[::ffff:127.0.0.1]`…), unless the operator allows them.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import parse_qsl, urlencode

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The two reasons a URL is refused; they are also failure categories of a webhook (see bot.services.webhooks).
INVALID_URL = "invalid_url"
BLOCKED_ADDRESS = "blocked_address"

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Checked in order; the first match names the reason. IPv4 follows IANA's special-purpose registry, a little
# wider where a block is useless for webhooks anyway (all of 192.0.0.0/24, the deprecated 6to4 relay anycast).
FORBIDDEN_NETWORKS: tuple[tuple[IPNetwork, str], ...] = (
    (_V4("0.0.0.0/8"), "an unspecified address ('this network')"),
    (_V4("10.0.0.0/8"), "a private address (RFC 1918)"),
    (_V4("100.64.0.0/10"), "shared address space (carrier-grade NAT, RFC 6598)"),
    (_V4("127.0.0.0/8"), "a loopback address"),
    (_V4("169.254.0.0/16"), "a link-local address (cloud metadata lives at 169.254.169.254)"),
    (_V4("172.16.0.0/12"), "a private address (RFC 1918)"),
    (_V4("192.0.0.0/24"), "an IETF protocol assignment (RFC 6890)"),
    (_V4("192.0.2.0/24"), "a documentation address (RFC 5737)"),
    (_V4("192.88.99.0/24"), "the deprecated 6to4 relay anycast (RFC 7526)"),
    (_V4("192.168.0.0/16"), "a private address (RFC 1918)"),
    (_V4("198.18.0.0/15"), "a benchmarking address (RFC 2544)"),
    (_V4("198.51.100.0/24"), "a documentation address (RFC 5737)"),
    (_V4("203.0.113.0/24"), "a documentation address (RFC 5737)"),
    (_V4("224.0.0.0/4"), "a multicast address"),
    (_V4("240.0.0.0/4"), "a reserved address (incl. broadcast 255.255.255.255)"),
    (_V6("::/128"), "the unspecified address"),
    (_V6("::1/128"), "the loopback address"),
    (_V6("fe80::/10"), "a link-local address"),
    (_V6("fec0::/10"), "a site-local address (deprecated)"),
    (_V6("fc00::/7"), "a unique-local address (fc00::/7; AWS metadata lives at fd00:ec2::254)"),
    (_V6("ff00::/8"), "a multicast address"),
    (_V6("2001::/23"), "an IETF protocol assignment (Teredo, ORCHID, benchmarking…)"),
    (_V6("2001:db8::/32"), "a documentation address (RFC 3849)"),
    (_V6("3fff::/20"), "a documentation address (RFC 9637)"),
)
# Every public IPv6 address is in 2000::/3; outside it only the forms that embed an IPv4 address are judged
# (by that address), everything else is refused.
IPV6_GLOBAL_UNICAST = _V6("2000::/3")
IPV4_MAPPED = _V6("::ffff:0:0/96")
NAT64 = _V6("64:ff9b::/96")
SIX_TO_FOUR = _V6("2002::/16")

# Names of cloud metadata services, and suffixes that never name a public host.
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
    }
)
INTERNAL_SUFFIXES = ("localhost", "local", "internal", "localdomain", "home.arpa")

_HOST_NAME = re.compile(r"^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$")
_NUMERIC_HOST = re.compile(r"^[0-9a-fx.]+$")


class Refusal(NamedTuple):
    category: str  # INVALID_URL or BLOCKED_ADDRESS
    message: str


@dataclass(frozen=True)
class OutboundRules:
    """What the operator allows. The default refuses every internal destination."""

    allow_private: bool = False
    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    def allows_host(self, host: str) -> bool:
        return self.allow_private or host in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        plain = _unmapped(address)
        return self.allow_private or any(plain in network for network in self.networks)


ALLOW_ALL = OutboundRules(allow_private=True)


@functools.lru_cache(maxsize=8)
def parse_allowed_hosts(text: str) -> tuple[frozenset[str], tuple[IPNetwork, ...]]:
    """`HITL_WEBHOOK_ALLOWED_HOSTS`: comma-separated host names and CIDRs (a bare address is a /32 or /128)."""
    hosts: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        if "/" in entry or ":" in entry or ip_literal(entry) is not None:
            networks.append(_network(entry))
        else:
            hosts.add(_allowed_name(entry))
    return frozenset(hosts), tuple(networks)


def _network(entry: str) -> IPNetwork:
    address, _, prefix = entry.partition("/")
    literal = ip_literal(address.strip("[]"))
    if literal is None:
        raise ValueError(f"{entry!r} is not a host name, IP address or CIDR (no scheme, port or path)")
    try:
        return ipaddress.ip_network(f"{literal}/{prefix}" if prefix else str(literal))
    except ValueError as exc:
        raise ValueError(f"{entry!r} is not a valid CIDR ({exc})") from None


def _allowed_name(entry: str) -> str:
    host = None if any(c in entry for c in "@?#") else normalise_host(entry)
    if host is None or not _HOST_NAME.match(host):
        raise ValueError(f"{entry!r} is not a host name, IP address or CIDR (no scheme, port or path)")
    return host


def normalise_host(host: str) -> str | None:
    """The host as the resolver sees it: lower case, IDNA (A-labels), no trailing dot. None if not a name."""
    try:
        raw = httpx.URL(f"http://{host}/").raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError):
        return None
    return raw[:-1] if raw.endswith(".") else raw


def ip_literal(host: str) -> IPAddress | None:
    """The address a host string stands for without DNS, as the C library reads it: IPv6 literals, and IPv4 in
    every inet_aton spelling (`127.1`, `2130706433`, `0x7f000001`, `0177.0.0.1`). None for a name."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.strip("[]"))
        except ValueError:
            return None
    candidate = host.lower().removesuffix(".")
    if not _NUMERIC_HOST.match(candidate):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(candidate))
    except OSError:
        return None


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, NAT64 (64:ff9b::/96) or 6to4 address: where it really goes."""
    if address in IPV4_MAPPED:
        return address.ipv4_mapped
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in SIX_TO_FOUR:
        return address.sixtofour
    return None


def address_refusal(address: IPAddress) -> str | None:
    """Why hitl must not connect to this address, or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            address = ipaddress.IPv6Address(str(address).split("%")[0])
        inner = embedded_ipv4(address)
        if inner is not None:
            reason = address_refusal(inner)
            return f"{reason} ({inner}, embedded in {address})" if reason else None
    for network, reason in FORBIDDEN_NETWORKS:
        if address.version == network.version and address in network:
            return reason
    if isinstance(address, ipaddress.IPv6Address) and address not in IPV6_GLOBAL_UNICAST:
        return "not a global unicast IPv6 address"
    return None


def name_refusal(host: str) -> str | None:
    """Names refused before any DNS: loopback and metadata names, private-use suffixes, single labels (resolved
    through the local search domains: `http://redis/`)."""
    if host in METADATA_NAMES:
        return "a cloud metadata service"
    if any(host == suffix or host.endswith("." + suffix) for suffix in INTERNAL_SUFFIXES):
        return "a name that only resolves inside the local network"
    if "." not in host:
        return "a single-label name (resolved through the local network's search domains)"
    return None


def url_refusal(url: str, rules: OutboundRules) -> Refusal | None:
    """Check a webhook URL as written, without DNS (ingest, policy load, and again before each delivery)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        return Refusal(INVALID_URL, f"not a valid URL ({exc})")
    if parsed.scheme not in ("http", "https"):
        return Refusal(INVALID_URL, "must be an http or https URL")
    if parsed.userinfo:
        return Refusal(
            INVALID_URL, "must not carry credentials (user:password@): webhooks are signed (webhook-signature) instead"
        )
    if parsed.port is not None and not 1 <= parsed.port <= 65535:
        return Refusal(INVALID_URL, "has a port outside 1-65535")
    return host_refusal(parsed.raw_host.decode("ascii"), rules)


def host_refusal(host: str, rules: OutboundRules) -> Refusal | None:
    """Check a URL's host as written: an address literal in any spelling, or a name (not resolved here)."""
    literal = ip_literal(host)
    if literal is not None:
        reason = None if rules.allows_address(literal) else address_refusal(literal)
        return Refusal(BLOCKED_ADDRESS, f"{host} is {reason}") if reason else None
    name = normalise_host(host)
    if not name or not _HOST_NAME.match(name):
        return Refusal(INVALID_URL, f"{host!r} is not a valid host name")
    reason = None if rules.allows_host(name) else name_refusal(name)
    return Refusal(BLOCKED_ADDRESS, f"{name} is {reason}") if reason else None


def resolved_refusal(host: str, addresses: list[IPAddress], rules: OutboundRules) -> str | None:
    """After DNS: refuse when ANY address is forbidden (a name answering public and private addresses would
    otherwise reach inside on some connections). An allow-listed name is allowed whatever it resolves to."""
    if not addresses:
        return f"{host} resolved to no address"
    if rules.allows_host(normalise_host(host) or host):
        return None
    for address in addresses:
        reason = None if rules.allows_address(address) else address_refusal(address)
        if reason:
            return f"{host} resolves to {address}, {reason}"
    return None


def redact_url(url: str) -> str:
    """A URL fit for a log line or an API answer: no user:password, every query value replaced by `***`
    (a list of secret-looking names always misses one: jwt, X-Amz-Credential, sig…), no fragment."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "(invalid URL)"
    if not parsed.is_absolute_url:
        return "(invalid URL)"
    query = urlencode(
        [(name, "***") for name, _ in parse_qsl(parsed.query.decode("ascii", "replace"), keep_blank_values=True)],
        safe="*",
    )
    netloc = ("***@" if parsed.userinfo else "") + parsed.netloc.decode("ascii", "replace")
    return f"{parsed.scheme}://{netloc}{parsed.raw_path.split(b'?')[0].decode('ascii', 'replace')}" + (
        f"?{query}" if query else ""
    )


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
