"""SSRF guard: decide whether an outbound URL may be called, and pin the address to call.

`static_check` needs no DNS (save time and before every run); `resolve_and_check` resolves the
host, checks every address and returns the one the executor must connect to (no rebinding).
See executor.md §4 and DECISIONS.md ("Executor and security", SSRF).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

ALLOWED_SCHEMES: dict[str, int] = {"http": 80, "https": 443}

# Names that always mean this machine, whatever DNS says (/etc/hosts spellings included).
LOCALHOST_NAMES = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "localhost6",
        "localhost6.localdomain6",
        "ip6-localhost",
        "ip6-loopback",
    }
)

# Instance/container credential endpoints: blocked even when private targets are allowed.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {
        ipaddress.IPv4Address("169.254.169.254"),  # AWS/GCP/Azure/OCI instance metadata
        ipaddress.IPv4Address("169.254.170.2"),  # ECS task credentials
        ipaddress.IPv4Address("169.254.170.23"),  # EKS pod identity agent
        ipaddress.IPv4Address("100.100.100.200"),  # Alibaba Cloud metadata
        ipaddress.IPv6Address("fd00:ec2::254"),  # AWS IMDS over IPv6
        ipaddress.IPv6Address("fd00:ec2::23"),  # EKS pod identity agent over IPv6
    }
)

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Explicit networks instead of `is_private`/`is_global`: in 3.11 those count the documentation
# ranges (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32) as non-global, which the spec
# wants allowed, miss CGNAT in `is_private`, call fec0::/10, NAT64 and 6to4 forms of 127.0.0.1
# "global", and their lists changed between patch releases. Explicit tables keep one verdict.
_V4_THIS_NETWORK = _V4("0.0.0.0/8")
_V4_PRIVATE = (_V4("10.0.0.0/8"), _V4("172.16.0.0/12"), _V4("192.168.0.0/16"))
_V4_CGNAT = _V4("100.64.0.0/10")
_V4_BENCHMARK = _V4("198.18.0.0/15")
_V4_PROTOCOL_ASSIGNMENTS = _V4("192.0.0.0/24")  # DS-Lite, NAT64 discovery: never a web server
_V4_BROADCAST = ipaddress.IPv4Address("255.255.255.255")

_V6_GLOBAL_UNICAST = _V6("2000::/3")
_V6_DISCARD = _V6("100::/64")
_V6_ULA = _V6("fc00::/7")
_V6_NAT64 = _V6("64:ff9b::/96")
_V6_NAT64_LOCAL = _V6("64:ff9b:1::/48")
_V6_BENCHMARK = _V6("2001:2::/48")
_V6_ORCHID = (_V6("2001:10::/28"), _V6("2001:20::/28"))
_V6_IPV4_COMPATIBLE = _V6("::/96")

# After IDNA: DNS letters, digits, hyphen, underscore (seen in real names), optional final dot.
_HOST_RE = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")
_PORT_RE = re.compile(r"[0-9]{1,5}")
_MAX_HOST_LEN = 253


class UrlNotAllowed(Exception):
    """The URL may not be called; `reason` says why in words a user can act on."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"URL not allowed: {reason}")
        self.url = url
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ParsedTarget:
    """A URL that passed the static checks; `host` is normalised (lower-case, IDNA, no brackets)."""

    scheme: str
    host: str
    port: int
    path_and_query: str
    literal_ip: IPAddress | None

    @property
    def host_header(self) -> str:
        """The Host header value: IPv6 bracketed, port only when not the scheme default."""
        host = f"[{self.host}]" if isinstance(self.literal_ip, ipaddress.IPv6Address) else self.host
        if self.port == ALLOWED_SCHEMES[self.scheme]:
            return host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ResolvedTarget:
    """A checked target, every address its host resolved to, and the one to connect to."""

    target: ParsedTarget
    addresses: tuple[str, ...]
    pinned: str


def is_blocked_ip(ip: IPAddress, *, allow_private: bool = False) -> str | None:
    """Why `ip` must not be called (e.g. "loopback address"), or None when it may be.

    `allow_private` lets loopback, private, link-local, CGNAT and benchmark addresses through,
    never the cloud metadata addresses, unspecified, multicast, broadcast or reserved ones.
    """
    if ip in METADATA_ADDRESSES:
        return "cloud metadata address"
    if isinstance(ip, ipaddress.IPv4Address):
        return _blocked_v4(ip, allow_private)
    return _blocked_v6(ip, allow_private)


def _blocked_v4(ip: ipaddress.IPv4Address, allow_private: bool) -> str | None:
    always: str | None = None
    private: str | None = None
    if ip in _V4_THIS_NETWORK:
        always = "unspecified address"
    elif ip == _V4_BROADCAST:
        always = "broadcast address"
    elif ip.is_multicast:
        always = "multicast address"
    elif ip.is_reserved or ip in _V4_PROTOCOL_ASSIGNMENTS:
        always = "reserved address"
    elif ip.is_loopback:
        private = "loopback address"
    elif any(ip in net for net in _V4_PRIVATE):
        private = "private address"
    elif ip.is_link_local:
        private = "link-local address"
    elif ip in _V4_CGNAT:
        private = "carrier-grade NAT address"
    elif ip in _V4_BENCHMARK:
        private = "benchmarking address"
    if always is not None:
        return always
    return None if allow_private else private


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """IPv4 addresses an IPv6 address routes to (mapped, compatible, NAT64, 6to4, Teredo)."""
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        return [("IPv4-mapped", ip.ipv4_mapped)]
    if ip in _V6_IPV4_COMPATIBLE:
        return [("IPv4-compatible", low32)]
    if ip in _V6_NAT64 or ip in _V6_NAT64_LOCAL:
        # The local-use /48 may embed at other offsets (RFC 6052); the /96 reading names the
        # common case, and the prefix is blocked outright below anyway.
        return [("NAT64", low32)]
    if ip.sixtofour is not None:
        return [("6to4", ip.sixtofour)]
    if ip.teredo is not None:
        server, client = ip.teredo
        return [("Teredo server", server), ("Teredo client", client)]
    return []


def _blocked_v6(ip: ipaddress.IPv6Address, allow_private: bool) -> str | None:
    # :: and ::1 sit inside the IPv4-compatible block, so they are named before unwrapping.
    if ip.is_unspecified:
        return "unspecified address"
    if ip.is_loopback:
        return None if allow_private else "loopback address"
    for form, v4 in _embedded_v4(ip):
        inner = is_blocked_ip(v4, allow_private=allow_private)
        if inner is not None:
            return f"{form} address embedding {v4}: {inner}"
    if ip.ipv4_mapped is not None or ip in _V6_IPV4_COMPATIBLE or ip in _V6_NAT64:
        # The packet goes to the embedded IPv4 address, which was just found acceptable.
        return None
    always: str | None = None
    private: str | None = None
    if ip.is_multicast:
        always = "multicast address"
    elif ip in _V6_DISCARD:
        always = "discard-only address"
    elif ip in _V6_NAT64_LOCAL:
        always = "local-use NAT64 address"
    elif ip.is_link_local:
        private = "link-local address"
    elif ip.is_site_local:
        private = "site-local address"
    elif ip in _V6_ULA:
        private = "private address"
    elif ip in _V6_BENCHMARK:
        private = "benchmarking address"
    elif any(ip in net for net in _V6_ORCHID) or ip not in _V6_GLOBAL_UNICAST:
        # Outside 2000::/3 nothing is routed on the internet; ORCHIDs are identifiers, not hosts.
        always = "reserved address"
    if always is not None:
        return always
    return None if allow_private else private


def ip_text(ip: IPAddress) -> str:
    """Canonical text of `ip`; IPv4-mapped IPv6 keeps its dotted tail on every Python version."""
    # 3.11/3.12 print ::ffff:127.0.0.1 as ::ffff:7f00:1, 3.13 as ::ffff:127.0.0.1.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return f"::ffff:{ip.ipv4_mapped}"
    return str(ip)


def _parse_ipv4_number(part: str) -> int | None:
    """One dotted part the way inet_aton and the WHATWG parser read it: 0x hex, 0 octal."""
    if part == "":
        return None
    if part[:2] == "0x":  # the host is lower-cased before this runs
        digits, base, alphabet = part[2:], 16, "0123456789abcdef"
    elif len(part) > 1 and part[0] == "0":
        digits, base, alphabet = part[1:], 8, "01234567"
    else:
        digits, base, alphabet = part, 10, "0123456789"
    if digits == "":
        return 0  # "0x" alone is zero for both parsers
    if any(ch not in alphabet for ch in digits):
        return None
    return int(digits, base)


def _numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a numeric host means (`127.1`, `0x7f000001`, `0177.0.0.1`), else None.

    Raises ValueError when the host ends in a number but is no valid address (`256.0.0.1`):
    resolvers and browsers disagree on such names, so they are refused.
    """
    parts = host.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    last = parts[-1]
    # WHATWG "ends in a number": all digits (even a bad octal like 08) or a valid hex/octal part.
    if not (last and all(ch in "0123456789" for ch in last)) and _parse_ipv4_number(last) is None:
        return None
    numbers = [_parse_ipv4_number(p) for p in parts]
    if len(parts) > 4 or any(n is None for n in numbers):
        raise ValueError(f"'{host}' is not a valid IPv4 address")
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise ValueError(f"'{host}' is not a valid IPv4 address")
    address = values[-1]
    for index, n in enumerate(values[:-1]):
        address += n << (8 * (3 - index))
    return ipaddress.IPv4Address(address)


def _split_authority(netloc: str) -> tuple[str, bool, str | None]:
    """(raw host, bracketed, raw port or None) of `netloc`; the host is after the last `@`."""
    if "\\" in netloc:
        # WHATWG reads `\` as `/`, urllib and httpx do not: the two would disagree on the host.
        raise ValueError("backslash in authority")
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        end = hostport.find("]")
        if end == -1:
            raise ValueError("unclosed '['")
        rest = hostport[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError("junk after ']'")
        return hostport[1:end], True, rest[1:] if rest else None
    if "[" in hostport or "]" in hostport:
        raise ValueError("stray bracket in host")
    host, sep, port = hostport.partition(":")
    return host, False, port if sep else None


def _parse_port(raw: str | None, scheme: str) -> int:
    if raw is None or raw == "":
        return ALLOWED_SCHEMES[scheme]
    if not _PORT_RE.fullmatch(raw) or not 1 <= int(raw) <= 65535:
        raise ValueError(f"port '{raw}' is not valid")
    return int(raw)


def _normalise_name(raw: str) -> str:
    """Percent-decode, IDNA-encode (NFKC folds fullwidth digits and dots) and lower-case."""
    decoded = unquote(raw, errors="strict").lower()
    try:
        encoded = decoded.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise ValueError(f"host '{raw}' is not a valid name") from exc
    if not _HOST_RE.fullmatch(encoded) or len(encoded.rstrip(".")) > _MAX_HOST_LEN:
        raise ValueError(f"host '{raw}' is not a valid name")
    return encoded


def _is_localhost_name(host: str) -> bool:
    name = host.rstrip(".")
    return name in LOCALHOST_NAMES or name.endswith(".localhost") or name.startswith("localhost.")


def static_check(url: str, *, allow_private: bool) -> ParsedTarget:
    """Checks that need no DNS: scheme, host, port, localhost names and IP literals in any spelling.

    Raises `UrlNotAllowed`. A hostname that passes still needs `resolve_and_check`.
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise UrlNotAllowed(url, f"Invalid URL: {exc}") from exc
    if not parts.scheme:
        raise UrlNotAllowed(url, "Invalid URL: no scheme")
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UrlNotAllowed(
            url, f"Scheme '{scheme}' not allowed. Only HTTP and HTTPS are permitted."
        )
    try:
        raw_host, bracketed, raw_port = _split_authority(parts.netloc)
        if raw_host == "":
            raise ValueError("no host")
        port = _parse_port(raw_port, scheme)
        literal_ip: IPAddress | None
        if bracketed:
            # Zone ids (`%25eth0`) name an interface, not a different address.
            literal_ip = ipaddress.IPv6Address(unquote(raw_host).partition("%")[0])
            host = ip_text(literal_ip)
        else:
            host = _normalise_name(raw_host)
            literal_ip = _numeric_ipv4(host)
            if literal_ip is not None:
                host = str(literal_ip)
    except ValueError as exc:
        raise UrlNotAllowed(url, f"Invalid URL: {exc}") from exc
    if literal_ip is not None:
        why = is_blocked_ip(literal_ip, allow_private=allow_private)
        if why is not None:
            written = "" if raw_host.lower() == host else f" (written '{raw_host}')"
            raise UrlNotAllowed(url, f"IP address '{host}'{written} is not allowed ({why})")
    elif not allow_private and _is_localhost_name(host):
        raise UrlNotAllowed(url, f"Hostname '{host}' is not allowed (resolves to localhost)")
    path_and_query = parts.path or "/"
    if parts.query:
        path_and_query += f"?{parts.query}"
    return ParsedTarget(scheme, host, port, path_and_query, literal_ip)


def system_resolver(host: str, port: int) -> list[str]:
    """Every IPv4 and IPv6 address of `host` via getaddrinfo, in the order it returns them."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [
        str(sockaddr[0])
        for family, _, _, _, sockaddr in infos
        if family in (socket.AF_INET, socket.AF_INET6)
    ]


def resolve_and_check(
    url: str, *, allow_private: bool, resolver: Resolver | None = None
) -> ResolvedTarget:
    """`static_check`, then resolve and check every address; connect only to `pinned`.

    Blocked when resolution fails or ANY address is blocked (a name pointing both outside and
    inside is an attack, not a fallback). IP-literal hosts skip DNS. `allow_private=True` lets
    loopback, private and link-local targets through, but the cloud metadata addresses
    (169.254.169.254, fd00:ec2::254, ...) stay blocked even then.
    """
    target = static_check(url, allow_private=allow_private)
    if target.literal_ip is not None:
        return ResolvedTarget(target, (target.host,), target.host)
    failed = f"DNS resolution failed for {target.host}"
    try:
        raw = (resolver or system_resolver)(target.host, target.port)
    except (OSError, UnicodeError) as exc:
        raise UrlNotAllowed(url, failed) from exc
    addresses: list[IPAddress] = []
    for text in raw:
        try:
            ip = ipaddress.ip_address(text.partition("%")[0])
        except ValueError as exc:
            raise UrlNotAllowed(url, f"{failed}: '{text}' is not an address") from exc
        if ip not in addresses:
            addresses.append(ip)
    if not addresses:
        raise UrlNotAllowed(url, f"{failed}: no addresses")
    for ip in addresses:
        why = is_blocked_ip(ip, allow_private=allow_private)
        if why is not None:
            raise UrlNotAllowed(
                url, f"Hostname '{target.host}' resolves to blocked IP '{ip_text(ip)}' ({why})"
            )
    texts = tuple(ip_text(ip) for ip in addresses)
    return ResolvedTarget(target, texts, texts[0])
