"""SSRF guard (behaviours-to-test.md K 142-157, plus the gaps executor.md §4.3 lists)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.engine import urlguard
from chalicelib.engine.urlguard import (
    ParsedTarget,
    UrlNotAllowed,
    is_blocked_ip,
    resolve_and_check,
    static_check,
)


class FakeDns:
    """A resolver from a dict: host -> addresses, or an exception to raise; records each call."""

    def __init__(self, records: dict[str, list[str] | Exception]) -> None:
        self.records = records
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        answer = self.records.get(host)
        if answer is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if isinstance(answer, Exception):
            raise answer
        return answer


def no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"resolver consulted for {host}:{port}")


@pytest.fixture(autouse=True)
def _forbid_real_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("real DNS lookup attempted in a unit test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield


def blocked_reason(
    url: str, *, allow_private: bool = False, resolver: FakeDns | None = None
) -> str:
    with pytest.raises(UrlNotAllowed) as info:
        resolve_and_check(url, allow_private=allow_private, resolver=resolver or no_dns)
    assert info.value.url == url
    assert str(info.value) == f"URL not allowed: {info.value.reason}"
    return info.value.reason


# Fullwidth digits and ideographic full stops: IDNA folds them to 127.0.0.1, as browsers do.
FULLWIDTH_LOOPBACK = "\uff11\uff12\uff17\u3002\uff10\u3002\uff10\u3002\uff11"
FULLWIDTH_80 = "\uff18\uff10"

# --- blocked without DNS: (url, fragment the reason must contain) -------------------------------

STATIC_BLOCKED: list[tuple[str, str]] = [
    # 142 loopback
    ("http://127.0.0.1/", "IP address '127.0.0.1' is not allowed (loopback address)"),
    ("http://127.0.1.1/", "IP address '127.0.1.1' is not allowed"),
    ("http://127.255.255.255:8080/x", "IP address '127.255.255.255' is not allowed"),
    # 143 localhost names
    ("http://localhost/", "Hostname 'localhost' is not allowed (resolves to localhost)"),
    ("http://localhost:8080/", "Hostname 'localhost' is not allowed"),
    ("http://sub.localhost/", "Hostname 'sub.localhost' is not allowed"),
    ("http://api.localhost:3000/", "Hostname 'api.localhost' is not allowed"),
    ("http://localhost.localdomain/", "Hostname 'localhost.localdomain' is not allowed"),
    ("http://LOCALHOST./", "Hostname 'localhost.' is not allowed"),
    ("http://ip6-localhost/", "Hostname 'ip6-localhost' is not allowed"),
    ("http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/", "Hostname 'localhost' is not allowed"),
    # 145 private ranges, with ports
    ("http://10.0.0.1/", "IP address '10.0.0.1' is not allowed (private address)"),
    ("http://10.255.255.255:8080/", "'10.255.255.255' is not allowed (private address)"),
    ("http://172.16.0.1/", "'172.16.0.1' is not allowed (private address)"),
    ("https://172.31.255.255:443/", "'172.31.255.255' is not allowed (private address)"),
    ("http://192.168.0.1:3000/", "'192.168.0.1' is not allowed (private address)"),
    ("http://192.168.255.255/", "'192.168.255.255' is not allowed (private address)"),
    # 146 link-local and cloud metadata in every spelling
    ("http://169.254.0.1/", "'169.254.0.1' is not allowed (link-local address)"),
    ("http://169.254.169.254/latest/meta-data/", "'169.254.169.254' is not allowed (cloud meta"),
    ("http://169.254.169.254/latest/meta-data/iam/security-credentials/", "cloud metadata"),
    ("http://169.254.169.254/computeMetadata/v1/?recursive=true", "cloud metadata"),
    ("http://169.254.169.254/metadata/instance?api-version=2021-02-01", "cloud metadata"),
    ("http://169.254.170.2/v2/credentials/abc", "'169.254.170.2' is not allowed (cloud metadata"),
    ("http://2852039166/latest/meta-data/", "'169.254.169.254' (written '2852039166')"),
    ("http://0xa9fea9fe/", "'169.254.169.254' (written '0xa9fea9fe')"),
    ("http://0251.0376.0251.0376/", "'169.254.169.254' (written '0251.0376.0251.0376')"),
    ("http://169.254.43518/", "'169.254.169.254' (written '169.254.43518')"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "'fd00:ec2::254' is not allowed (cloud metadata"),
    ("http://[::ffff:a9fe:a9fe]/", "embedding 169.254.169.254: cloud metadata address"),
    # 147 IPv6 literals
    ("http://[::1]/", "IP address '::1' is not allowed (loopback address)"),
    ("http://[::]/", "IP address '::' is not allowed (unspecified address)"),
    ("http://[fe80::1]/", "'fe80::1' is not allowed (link-local address)"),
    ("http://[febf::1]/", "'febf::1' is not allowed (link-local address)"),
    ("http://[fc00::1]/", "'fc00::1' is not allowed (private address)"),
    ("http://[fd00::1]/", "'fd00::1' is not allowed (private address)"),
    ("http://[fdff:ffff:ffff::1]/", "'fdff:ffff:ffff::1' is not allowed (private address)"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped address embedding 127.0.0.1: loopback"),
    ("http://[::ffff:192.168.1.1]/", "IPv4-mapped address embedding 192.168.1.1: private"),
    ("http://[::ffff:169.254.169.254]/", "IPv4-mapped address embedding 169.254.169.254: cloud"),
    ("http://[::ffff:7f00:1]/", "'::ffff:127.0.0.1' (written '::ffff:7f00:1')"),
    ("http://[0:0:0:0:0:0:0:1]:8080/", "'::1' (written '0:0:0:0:0:0:0:1') is not allowed"),
    ("http://[fe80::1%25eth0]/", "'fe80::1' (written 'fe80::1%25eth0') is not allowed (link-loc"),
    ("http://[FEC0::1]/", "IP address 'fec0::1' is not allowed (site-local address)"),
    ("http://[ff02::1]/", "'ff02::1' is not allowed (multicast address)"),
    ("http://[ff05::1:3]/", "(multicast address)"),
    ("http://[100::1]/", "'100::1' is not allowed (discard-only address)"),
    ("http://[4000::1]/", "'4000::1' is not allowed (reserved address)"),
    ("http://[::ffff:0:7f00:1]/", "(reserved address)"),  # SIIT-translated form, never routed
    ("http://[2001:2::1]/", "(benchmarking address)"),
    ("http://[2001:10::1]/", "(reserved address)"),  # ORCHID
    # IPv4-compatible, NAT64, 6to4, Teredo: the embedded IPv4 decides
    ("http://[::127.0.0.1]/", "IPv4-compatible address embedding 127.0.0.1: loopback address"),
    ("http://[::0.0.0.2]/", "IPv4-compatible address embedding 0.0.0.2: unspecified address"),
    ("http://[64:ff9b::7f00:1]/", "NAT64 address embedding 127.0.0.1: loopback address"),
    ("http://[64:ff9b::10.0.0.1]/", "NAT64 address embedding 10.0.0.1: private address"),
    ("http://[64:ff9b::a9fe:a9fe]/", "NAT64 address embedding 169.254.169.254: cloud metadata"),
    ("http://[64:ff9b:1::7f00:1]/", "NAT64 address embedding 127.0.0.1: loopback address"),
    ("http://[64:ff9b:1::808:808]/", "(local-use NAT64 address)"),
    ("http://[2002:7f00:1::1]/", "6to4 address embedding 127.0.0.1: loopback address"),
    ("http://[2002:c0a8:101::1]/", "6to4 address embedding 192.168.1.1: private address"),
    ("http://[2002:a9fe:a9fe::1]/", "6to4 address embedding 169.254.169.254: cloud metadata"),
    ("http://[2001:0:a00:1:8000:63bf:3fff:fdd2]/", "Teredo server address embedding 10.0.0.1"),
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "Teredo client address embedding 127.0"),
    # 149 unspecified and broadcast
    ("http://0.0.0.0/", "IP address '0.0.0.0' is not allowed (unspecified address)"),
    ("http://0.0.0.1/", "'0.0.0.1' is not allowed (unspecified address)"),
    ("http://0.255.255.255/", "'0.255.255.255' is not allowed (unspecified address)"),
    ("http://255.255.255.255/", "'255.255.255.255' is not allowed (broadcast address)"),
    # ranges the reference missed (executor.md §4.3)
    ("http://100.64.0.1/", "'100.64.0.1' is not allowed (carrier-grade NAT address)"),
    ("http://100.127.255.255/", "(carrier-grade NAT address)"),
    ("http://100.100.100.200/latest/meta-data/", "(cloud metadata address)"),
    ("http://198.18.0.1/", "'198.18.0.1' is not allowed (benchmarking address)"),
    ("http://198.19.255.255/", "(benchmarking address)"),
    ("http://224.0.0.1/", "'224.0.0.1' is not allowed (multicast address)"),
    ("http://239.255.255.250:1900/", "(multicast address)"),
    ("http://240.0.0.1/", "'240.0.0.1' is not allowed (reserved address)"),
    ("http://192.0.0.8/", "'192.0.0.8' is not allowed (reserved address)"),
    # numeric-host tricks, normalised like inet_aton
    ("http://2130706433/", "IP address '127.0.0.1' (written '2130706433') is not allowed"),
    ("http://0x7f000001/", "'127.0.0.1' (written '0x7f000001') is not allowed (loopback"),
    ("http://0X7F000001/", "'127.0.0.1' (written '0X7F000001') is not allowed"),
    ("http://017700000001/", "'127.0.0.1' (written '017700000001')"),
    ("http://0177.0.0.1/", "'127.0.0.1' (written '0177.0.0.1')"),
    ("http://0177.0000.0000.0001/", "'127.0.0.1' (written '0177.0000.0000.0001')"),
    ("http://127.1/", "'127.0.0.1' (written '127.1') is not allowed (loopback address)"),
    ("http://127.0.1/", "'127.0.0.1' (written '127.0.1')"),
    ("http://127.0.0.01/", "'127.0.0.1' (written '127.0.0.01')"),
    ("http://0x7f.1/", "'127.0.0.1' (written '0x7f.1')"),
    ("http://0x7f.0x0.0.01/", "'127.0.0.1' (written '0x7f.0x0.0.01')"),
    ("http://127.0.0.1./", "'127.0.0.1' (written '127.0.0.1.')"),
    ("http://0/", "'0.0.0.0' (written '0') is not allowed (unspecified address)"),
    ("http://0x/", "'0.0.0.0' (written '0x') is not allowed (unspecified address)"),
    ("http://0x0a.0.0.1/", "'10.0.0.1' (written '0x0a.0.0.1') is not allowed (private address)"),
    ("http://0xc0.0xa8.1.1:8080/", "'192.168.1.1' (written '0xc0.0xa8.1.1')"),
    ("http://192.168.257/", "'192.168.1.1' (written '192.168.257') is not allowed"),
    ("http://4294967295/", "'255.255.255.255' (written '4294967295') is not allowed (broadcast"),
    ("http://%31%32%37.0.0.1/", "'127.0.0.1' (written '%31%32%37.0.0.1')"),
    (f"http://{FULLWIDTH_LOOPBACK}/", f"IP address '127.0.0.1' (written '{FULLWIDTH_LOOPBACK}')"),
    # userinfo never hides the host: the part after the last @ counts
    ("http://example.com@127.0.0.1/", "IP address '127.0.0.1' is not allowed (loopback address)"),
    ("http://user:pass@10.0.0.1:8080/", "IP address '10.0.0.1' is not allowed"),
    ("http://a@b@192.168.0.1/", "IP address '192.168.0.1' is not allowed"),
    ("http://example.com:80@169.254.169.254/", "'169.254.169.254' is not allowed (cloud metadata"),
    ("http://8.8.8.8@0x7f000001/", "'127.0.0.1' (written '0x7f000001') is not allowed"),
    ("http://@localhost/", "Hostname 'localhost' is not allowed"),
    ("http://127.0.0.1#@example.com/", "IP address '127.0.0.1' is not allowed"),
    # 148 schemes: the reason names the scheme
    ("ftp://example.com/file", "Scheme 'ftp' not allowed. Only HTTP and HTTPS are permitted."),
    ("file:///etc/passwd", "Scheme 'file' not allowed"),
    ("javascript:alert(1)", "Scheme 'javascript' not allowed"),
    ("data:text/html,<script>alert(1)</script>", "Scheme 'data' not allowed"),
    ("gopher://example.com:70/_GET%20/", "Scheme 'gopher' not allowed"),
    ("ldap://example.com/dc=example", "Scheme 'ldap' not allowed"),
    ("dict://example.com:11211/stat", "Scheme 'dict' not allowed"),
    ("sftp://example.com/upload", "Scheme 'sftp' not allowed"),
    ("FTP://example.com/", "Scheme 'ftp' not allowed"),
    ("ws://example.com/socket", "Scheme 'ws' not allowed"),
    # 150 malformed URLs and bad ports
    ("not-a-url", "Invalid URL"),
    ("://missing-scheme.com", "Invalid URL"),
    ("http://", "Invalid URL: no host"),
    ("https://", "Invalid URL: no host"),
    ("http:example.com", "Invalid URL: no host"),
    ("http:///example.com", "Invalid URL: no host"),
    ("http://::1/", "Invalid URL: no host"),
    ("http://user@/", "Invalid URL: no host"),
    ("", "Invalid URL"),
    ("http://example.com:0/", "Invalid URL: port '0' is not valid"),
    ("http://example.com:65536/", "Invalid URL: port '65536' is not valid"),
    ("http://example.com:99999999/", "Invalid URL: port '99999999' is not valid"),
    ("http://example.com:abc/", "Invalid URL: port 'abc' is not valid"),
    ("http://example.com:-1/", "Invalid URL: port '-1' is not valid"),
    ("http://example.com:80:80/", "Invalid URL: port '80:80' is not valid"),
    (f"http://example.com:{FULLWIDTH_80}/", f"Invalid URL: port '{FULLWIDTH_80}' is not valid"),
    ("http://[::1]:abc/", "Invalid URL: port 'abc' is not valid"),
    ("http://[::1/", "Invalid URL"),
    ("http://[::1]x/", "Invalid URL"),
    ("http://[127.0.0.1]/", "Invalid URL"),
    ("http://[v1.fe]/", "Invalid URL"),
    ("http://ex[a]mple.com/", "Invalid URL"),
    ("http://exa mple.com/", "Invalid URL: host 'exa mple.com' is not a valid name"),
    ("http://a..b/", "Invalid URL: host 'a..b' is not a valid name"),
    ("http://exa%00mple.com/", "Invalid URL: host 'exa%00mple.com' is not a valid name"),
    ("http://%ff.example/", "Invalid URL"),
    ("http://" + "a" * 64 + ".com/", "Invalid URL"),
    ("http://" + "a." * 127 + "com/", "Invalid URL"),
    ("http://127.0.0.1\\@example.com/", "Invalid URL: backslash in authority"),
    ("http://example.com\\@127.0.0.1/", "Invalid URL: backslash in authority"),
    # names ending in a number must be a valid IPv4 address (resolvers and browsers disagree)
    ("http://256.0.0.1/", "Invalid URL: '256.0.0.1' is not a valid IPv4 address"),
    ("http://1.2.3.4.5/", "Invalid URL: '1.2.3.4.5' is not a valid IPv4 address"),
    ("http://4294967296/", "Invalid URL: '4294967296' is not a valid IPv4 address"),
    ("http://127.0.0.08/", "Invalid URL: '127.0.0.08' is not a valid IPv4 address"),
    ("http://0x100.0.0.1/", "Invalid URL: '0x100.0.0.1' is not a valid IPv4 address"),
    ("http://192.168.65536/", "Invalid URL: '192.168.65536' is not a valid IPv4 address"),
    ("http://foo.09/", "Invalid URL: 'foo.09' is not a valid IPv4 address"),
]


@pytest.mark.parametrize(("url", "fragment"), STATIC_BLOCKED)
def test_static_check_blocks(url: str, fragment: str) -> None:
    with pytest.raises(UrlNotAllowed) as info:
        static_check(url, allow_private=False)
    assert fragment in info.value.reason
    assert info.value.url == url
    assert str(info.value) == f"URL not allowed: {info.value.reason}"


@pytest.mark.parametrize(("url", "fragment"), STATIC_BLOCKED)
def test_resolve_and_check_blocks_before_any_lookup(url: str, fragment: str) -> None:
    assert fragment in blocked_reason(url)


# --- IP literals that are allowed: (url, host, port, path_and_query) ----------------------------

ALLOWED_LITERALS: list[tuple[str, str, int, str]] = [
    # 153 public IPv4, with ports/paths/queries/fragments/encoding
    ("http://1.1.1.1/", "1.1.1.1", 80, "/"),
    ("https://8.8.8.8", "8.8.8.8", 443, "/"),
    ("http://9.0.0.1:8080/health", "9.0.0.1", 8080, "/health"),
    ("http://11.0.0.1/a/b?c=d", "11.0.0.1", 80, "/a/b?c=d"),
    ("https://45.33.32.156:8443/x?y=1#frag", "45.33.32.156", 8443, "/x?y=1"),
    ("http://100.0.0.1/%20space%2F", "100.0.0.1", 80, "/%20space%2F"),
    ("http://126.255.255.255/?q=%3Cscript%3E", "126.255.255.255", 80, "/?q=%3Cscript%3E"),
    ("http://128.0.0.1:1/", "128.0.0.1", 1, "/"),
    ("https://140.82.112.3/api#section", "140.82.112.3", 443, "/api"),
    ("http://168.255.255.255:65535/", "168.255.255.255", 65535, "/"),
    ("http://170.0.0.1/path;param", "170.0.0.1", 80, "/path;param"),
    ("https://185.199.108.153/index.html", "185.199.108.153", 443, "/index.html"),
    ("http://191.255.255.255:80/", "191.255.255.255", 80, "/"),
    ("http://193.0.0.1/?a=1&b=2", "193.0.0.1", 80, "/?a=1&b=2"),
    ("http://203.0.113.50/webhook", "203.0.113.50", 80, "/webhook"),
    ("https://216.58.214.206:443/search?q=x", "216.58.214.206", 443, "/search?q=x"),
    ("http://223.255.255.255/", "223.255.255.255", 80, "/"),
    ("HTTP://8.8.4.4/UPPER", "8.8.4.4", 80, "/UPPER"),
    # 154 boundaries of the blocked ranges
    ("http://11.0.0.0/", "11.0.0.0", 80, "/"),
    ("http://172.15.255.255/", "172.15.255.255", 80, "/"),
    ("http://172.32.0.0/", "172.32.0.0", 80, "/"),
    ("http://172.32.0.1:8080/", "172.32.0.1", 8080, "/"),
    ("http://192.167.255.255/", "192.167.255.255", 80, "/"),
    ("http://192.169.0.0/", "192.169.0.0", 80, "/"),
    ("http://169.253.255.255/", "169.253.255.255", 80, "/"),
    ("http://169.255.0.0/", "169.255.0.0", 80, "/"),
    ("http://100.63.255.255/", "100.63.255.255", 80, "/"),
    ("http://100.128.0.0/", "100.128.0.0", 80, "/"),
    ("http://198.17.255.255/", "198.17.255.255", 80, "/"),
    ("http://198.20.0.0/", "198.20.0.0", 80, "/"),
    ("http://223.255.255.254/", "223.255.255.254", 80, "/"),
    # documentation ranges stay allowed (ipaddress calls them private)
    ("http://192.0.2.1/", "192.0.2.1", 80, "/"),
    ("http://198.51.100.7/", "198.51.100.7", 80, "/"),
    # numeric spellings of public addresses are normalised, not refused
    ("http://134744072/", "8.8.8.8", 80, "/"),
    ("http://0x08080808/", "8.8.8.8", 80, "/"),
    ("http://010.010.010.010/", "8.8.8.8", 80, "/"),
    ("http://8.8.8.8./", "8.8.8.8", 80, "/"),
    # userinfo that looks private does not matter; the host does
    ("http://127.0.0.1@8.8.8.8/", "8.8.8.8", 80, "/"),
    ("http://user:p%40ss@1.1.1.1:8080/x", "1.1.1.1", 8080, "/x"),
    ("http://8.8.8.8?@127.0.0.1/", "8.8.8.8", 80, "/?@127.0.0.1/"),
    ("http://1.1.1.1:/", "1.1.1.1", 80, "/"),
    # 156 public IPv6
    ("http://[2001:4860:4860::8888]/", "2001:4860:4860::8888", 80, "/"),
    (
        "https://[2606:4700:4700::1111]:8443/dns-query?x=1",
        "2606:4700:4700::1111",
        8443,
        "/dns-query?x=1",
    ),
    ("http://[2400:cb00::1]/", "2400:cb00::1", 80, "/"),
    ("http://[2001:DB8::1]/", "2001:db8::1", 80, "/"),
    ("http://[::ffff:8.8.8.8]/", "::ffff:8.8.8.8", 80, "/"),
    ("http://[::ffff:203.0.113.50]:8080/", "::ffff:203.0.113.50", 8080, "/"),
    ("http://[::ffff:808:808]/", "::ffff:8.8.8.8", 80, "/"),
    ("http://[::8.8.8.8]/", "::808:808", 80, "/"),
    ("http://[64:ff9b::808:808]/", "64:ff9b::808:808", 80, "/"),
    ("http://[2002:808:808::1]/", "2002:808:808::1", 80, "/"),
    (
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        80,
        "/",
    ),
    ("http://[3fff::1]/", "3fff::1", 80, "/"),
]


@pytest.mark.parametrize(("url", "host", "port", "path_and_query"), ALLOWED_LITERALS)
def test_allowed_literals(url: str, host: str, port: int, path_and_query: str) -> None:
    expected = ParsedTarget(
        scheme=url.split(":", 1)[0].lower(),
        host=host,
        port=port,
        path_and_query=path_and_query,
        literal_ip=ipaddress.ip_address(host),
    )
    assert static_check(url, allow_private=False) == expected
    resolved = resolve_and_check(url, allow_private=False, resolver=no_dns)
    assert resolved == urlguard.ResolvedTarget(expected, (host,), host)


# --- names that pass the static check (DNS decides later) ---------------------------------------

ALLOWED_NAMES: list[tuple[str, str, int, str]] = [
    ("https://example.com", "example.com", 443, "/"),
    ("http://API.Example.COM:8080/v1?x=%2F", "api.example.com", 8080, "/v1?x=%2F"),
    ("https://Bücher.example/straße", "xn--bcher-kva.example", 443, "/straße"),
    ("http://example.com./", "example.com.", 80, "/"),
    ("http://user:secret@example.com/", "example.com", 80, "/"),
    ("http://_dmarc.example.com/", "_dmarc.example.com", 80, "/"),
    ("http://0x7f.example/", "0x7f.example", 80, "/"),
    ("http://127.0.0.1.nip.io/", "127.0.0.1.nip.io", 80, "/"),
    ("http://mylocalhost.com/", "mylocalhost.com", 80, "/"),
    ("http://example.com\t/", "example.com", 80, "/"),
]


@pytest.mark.parametrize(("url", "host", "port", "path_and_query"), ALLOWED_NAMES)
def test_static_check_accepts_names(url: str, host: str, port: int, path_and_query: str) -> None:
    scheme = url.split(":", 1)[0]
    assert static_check(url, allow_private=False) == ParsedTarget(
        scheme, host, port, path_and_query, None
    )


# --- DNS: every lookup goes through the fake resolver --------------------------------------------

DNS: dict[str, list[str] | Exception] = {
    "public.example": ["93.184.216.34"],
    "multi.example": ["93.184.216.34", "93.184.216.35"],
    "v6.example": ["2606:4700:4700::1111"],
    "dual.example": ["2606:2800:220:1:248:1893:25c8:1946", "93.184.216.34"],
    "dup.example": [
        "93.184.216.34",
        "93.184.216.34",
        "2001:4860:4860::8888",
        "2001:4860:4860:0::8888",
    ],
    "mapped-public.example": ["::ffff:8.8.8.8"],
    "xn--bcher-kva.example": ["93.184.216.34"],
    "loop.example": ["127.0.0.1"],
    "lan.example": ["192.168.1.100"],
    "meta.example": ["169.254.169.254"],
    "metadata.google.internal": ["169.254.169.254"],
    "v6loop.example": ["::1"],
    "mixed.example": ["8.8.8.8", "10.0.0.1"],
    "mixed-last.example": ["1.1.1.1", "8.8.8.8", "172.20.0.5"],
    "mixed6.example": ["2001:4860:4860::8888", "fd12:3456::1"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "nat64.example": ["64:ff9b::a9fe:a9fe"],
    "zone.example": ["fe80::1%eth0"],
    "cgnat.example": ["100.64.1.1"],
    "127.0.0.1.nip.io": ["127.0.0.1"],
    "empty.example": [],
    "garbage.example": ["not-an-ip"],
    "broken.example": OSError("resolver exploded"),
    "timeout.example": TimeoutError("timed out"),
    "docker-service": ["172.17.0.2"],
    "localhost": ["127.0.0.1", "::1"],
    "api.localhost": ["127.0.0.1"],
}

DNS_ALLOWED: list[tuple[str, tuple[str, ...], str]] = [
    # 155 public names: single, multiple, IPv6, mixed families
    ("https://public.example/hook", ("93.184.216.34",), "93.184.216.34"),
    ("http://multi.example:8080/", ("93.184.216.34", "93.184.216.35"), "93.184.216.34"),
    ("https://v6.example/", ("2606:4700:4700::1111",), "2606:4700:4700::1111"),
    (
        "https://dual.example/",
        ("2606:2800:220:1:248:1893:25c8:1946", "93.184.216.34"),
        "2606:2800:220:1:248:1893:25c8:1946",
    ),
    ("http://dup.example/", ("93.184.216.34", "2001:4860:4860::8888"), "93.184.216.34"),
    ("http://mapped-public.example/", ("::ffff:8.8.8.8",), "::ffff:8.8.8.8"),
    ("https://Bücher.example/", ("93.184.216.34",), "93.184.216.34"),
    ("https://PUBLIC.example/", ("93.184.216.34",), "93.184.216.34"),
]


@pytest.mark.parametrize(("url", "addresses", "pinned"), DNS_ALLOWED)
def test_names_resolving_to_public_addresses(
    url: str, addresses: tuple[str, ...], pinned: str
) -> None:
    dns = FakeDns(DNS)
    resolved = resolve_and_check(url, allow_private=False, resolver=dns)
    assert resolved.addresses == addresses
    assert resolved.pinned == pinned
    assert resolved.target == static_check(url, allow_private=False)
    assert dns.calls == [(resolved.target.host, resolved.target.port)]


DNS_BLOCKED: list[tuple[str, str]] = [
    # 144 names pointing inside; the reason names the IP
    (
        "http://loop.example/",
        "Hostname 'loop.example' resolves to blocked IP '127.0.0.1' (loopback",
    ),
    ("http://lan.example:8080/", "resolves to blocked IP '192.168.1.100' (private address)"),
    ("http://meta.example/latest/meta-data/", "blocked IP '169.254.169.254' (cloud metadata"),
    ("http://metadata.google.internal/computeMetadata/v1/", "blocked IP '169.254.169.254'"),
    ("http://v6loop.example/", "resolves to blocked IP '::1' (loopback address)"),
    ("http://127.0.0.1.nip.io/", "'127.0.0.1.nip.io' resolves to blocked IP '127.0.0.1'"),
    # 152 one public and one private address: blocked, naming the private one
    ("http://mixed.example/", "'mixed.example' resolves to blocked IP '10.0.0.1' (private"),
    ("http://mixed-last.example/", "resolves to blocked IP '172.20.0.5' (private address)"),
    ("http://mixed6.example/", "resolves to blocked IP 'fd12:3456::1' (private address)"),
    ("http://mapped.example/", "blocked IP '::ffff:127.0.0.1' (IPv4-mapped address embedding"),
    ("http://nat64.example/", "blocked IP '64:ff9b::a9fe:a9fe' (NAT64 address embedding 169.25"),
    ("http://zone.example/", "resolves to blocked IP 'fe80::1' (link-local address)"),
    ("http://cgnat.example/", "blocked IP '100.64.1.1' (carrier-grade NAT address)"),
    ("http://docker-service:8080/", "blocked IP '172.17.0.2' (private address)"),
    # 151 resolution failures
    ("http://broken.example/", "DNS resolution failed for broken.example"),
    ("http://timeout.example/", "DNS resolution failed for timeout.example"),
    ("http://unknown.example/", "DNS resolution failed for unknown.example"),
    ("http://empty.example/", "DNS resolution failed for empty.example: no addresses"),
    ("http://garbage.example/", "DNS resolution failed for garbage.example: 'not-an-ip' is not"),
]


@pytest.mark.parametrize(("url", "fragment"), DNS_BLOCKED)
def test_names_resolving_inside_or_not_at_all(url: str, fragment: str) -> None:
    assert fragment in blocked_reason(url, resolver=FakeDns(DNS))


def test_resolver_gets_the_normalised_host_and_port() -> None:
    dns = FakeDns(DNS)
    resolve_and_check("https://Bücher.EXAMPLE:8443/x", allow_private=False, resolver=dns)
    assert dns.calls == [("xn--bcher-kva.example", 8443)]


def test_literal_hosts_never_reach_the_resolver() -> None:
    dns = FakeDns(DNS)
    resolved = resolve_and_check("http://0x08080808:81/", allow_private=False, resolver=dns)
    assert (resolved.addresses, resolved.pinned, dns.calls) == (("8.8.8.8",), "8.8.8.8", [])


def test_resolution_failure_keeps_the_cause() -> None:
    with pytest.raises(UrlNotAllowed) as info:
        resolve_and_check("http://broken.example/", allow_private=False, resolver=FakeDns(DNS))
    assert isinstance(info.value.__cause__, OSError)
    assert str(info.value.__cause__) == "resolver exploded"


def test_default_resolver_uses_getaddrinfo_for_both_families(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[Any, ...]] = []

    def fake_getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        seen.append((host, port, kwargs.get("family", 0)))
        stream = socket.SOCK_STREAM
        return [
            (socket.AF_INET6, stream, 6, "", ("2606:4700:4700::1111", port, 0, 0)),
            (socket.AF_INET, stream, 6, "", ("1.1.1.1", port)),
            (socket.AF_INET, stream, 6, "", ("1.1.1.1", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    resolved = resolve_and_check("https://one.example/", allow_private=False)
    assert seen == [("one.example", 443, 0)]  # family 0 = AF_UNSPEC: A and AAAA
    assert resolved.addresses == ("2606:4700:4700::1111", "1.1.1.1")
    assert resolved.pinned == "2606:4700:4700::1111"


def test_default_resolver_failure_is_dns_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    assert blocked_reason_default("http://nowhere.example/") == (
        "DNS resolution failed for nowhere.example"
    )


def test_default_resolver_blocks_private_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    def private(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port))]

    monkeypatch.setattr(socket, "getaddrinfo", private)
    assert "blocked IP '10.1.2.3'" in blocked_reason_default("http://intranet.example/")


def blocked_reason_default(url: str) -> str:
    with pytest.raises(UrlNotAllowed) as info:
        resolve_and_check(url, allow_private=False)
    return info.value.reason


# --- allow_private: own services allowed, metadata never -----------------------------------------

PRIVATE_ALLOWED: list[tuple[str, str]] = [
    ("http://127.0.0.1:8080/", "127.0.0.1"),
    ("http://localhost:3000/", "127.0.0.1"),
    ("http://api.localhost:3000/", "127.0.0.1"),
    ("http://10.0.0.5/", "10.0.0.5"),
    ("http://192.168.1.10:8000/", "192.168.1.10"),
    ("http://172.16.5.4/", "172.16.5.4"),
    ("http://[::1]:8080/", "::1"),
    ("http://[fd00::1]/", "fd00::1"),
    ("http://[fe80::1]/", "fe80::1"),
    ("http://169.254.1.1/", "169.254.1.1"),
    ("http://100.64.0.1/", "100.64.0.1"),
    ("http://198.18.0.1/", "198.18.0.1"),
    ("http://[::ffff:192.168.1.1]/", "::ffff:192.168.1.1"),
    ("http://2130706433/", "127.0.0.1"),
    ("http://docker-service:8080/", "172.17.0.2"),
    ("http://cgnat.example/", "100.64.1.1"),
]


@pytest.mark.parametrize(("url", "pinned"), PRIVATE_ALLOWED)
def test_allow_private_lets_own_services_through(url: str, pinned: str) -> None:
    blocked_reason(url, allow_private=False, resolver=FakeDns(DNS))
    resolved = resolve_and_check(url, allow_private=True, resolver=FakeDns(DNS))
    assert resolved.pinned == pinned


PRIVATE_STILL_BLOCKED: list[tuple[str, str]] = [
    ("http://169.254.169.254/latest/meta-data/", "(cloud metadata address)"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "(cloud metadata address)"),
    ("http://[::ffff:169.254.169.254]/", "embedding 169.254.169.254: cloud metadata address"),
    ("http://[64:ff9b::a9fe:a9fe]/", "embedding 169.254.169.254: cloud metadata address"),
    ("http://[2002:a9fe:a9fe::1]/", "embedding 169.254.169.254: cloud metadata address"),
    ("http://2852039166/", "'169.254.169.254' (written '2852039166')"),
    ("http://0xa9.0xfe.0xa9.0xfe/", "(cloud metadata address)"),
    ("http://169.254.170.2/v2/credentials", "(cloud metadata address)"),
    ("http://100.100.100.200/", "(cloud metadata address)"),
    ("http://meta.example/", "resolves to blocked IP '169.254.169.254' (cloud metadata"),
    ("http://nat64.example/", "blocked IP '64:ff9b::a9fe:a9fe'"),
    ("http://0.0.0.0:8080/", "(unspecified address)"),
    ("http://[::]/", "(unspecified address)"),
    ("http://224.0.0.1/", "(multicast address)"),
    ("http://255.255.255.255/", "(broadcast address)"),
    ("http://240.0.0.1/", "(reserved address)"),
    ("http://[64:ff9b:1::808:808]/", "(local-use NAT64 address)"),
    ("ftp://localhost/", "Scheme 'ftp' not allowed"),
    ("http://broken.example/", "DNS resolution failed for broken.example"),
]


@pytest.mark.parametrize(("url", "fragment"), PRIVATE_STILL_BLOCKED)
def test_allow_private_still_blocks_metadata_and_non_unicast(url: str, fragment: str) -> None:
    assert fragment in blocked_reason(url, allow_private=True, resolver=FakeDns(DNS))


# --- is_blocked_ip directly ----------------------------------------------------------------------

IP_VERDICTS: list[tuple[str, str | None]] = [
    ("8.8.8.8", None),
    ("203.0.113.50", None),
    ("198.51.100.1", None),
    ("192.0.2.1", None),
    ("192.88.99.1", None),
    ("127.0.0.1", "loopback address"),
    ("10.1.2.3", "private address"),
    ("172.31.0.1", "private address"),
    ("169.254.169.254", "cloud metadata address"),
    ("169.254.169.253", "link-local address"),
    ("100.64.0.0", "carrier-grade NAT address"),
    ("198.19.0.1", "benchmarking address"),
    ("224.0.0.251", "multicast address"),
    ("255.255.255.255", "broadcast address"),
    ("255.255.255.254", "reserved address"),
    ("0.0.0.0", "unspecified address"),
    ("2001:4860:4860::8888", None),
    ("2001:db8::1", None),
    ("::ffff:8.8.8.8", None),
    ("::1", "loopback address"),
    ("::", "unspecified address"),
    ("fe80::1", "link-local address"),
    ("fec0::1", "site-local address"),
    ("fc00::1", "private address"),
    ("fd00:ec2::254", "cloud metadata address"),
    ("ff02::1", "multicast address"),
    ("100::1", "discard-only address"),
    ("::ffff:10.0.0.1", "IPv4-mapped address embedding 10.0.0.1: private address"),
    ("64:ff9b::7f00:1", "NAT64 address embedding 127.0.0.1: loopback address"),
    ("2002:c0a8:101::1", "6to4 address embedding 192.168.1.1: private address"),
    (
        "2001:0:a00:1:8000:63bf:3fff:fdd2",
        "Teredo server address embedding 10.0.0.1: private address",
    ),
    (
        "2001:0:4136:e378:8000:63bf:80ff:fffe",
        "Teredo client address embedding 127.0.0.1: loopback address",
    ),
    ("2001:10::1", "reserved address"),
    ("8000::1", "reserved address"),
]


@pytest.mark.parametrize(("text", "reason"), IP_VERDICTS)
def test_is_blocked_ip(text: str, reason: str | None) -> None:
    assert is_blocked_ip(ipaddress.ip_address(text)) == reason


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("127.0.0.1", None),
        ("10.1.2.3", None),
        ("fe80::1", None),
        ("::ffff:10.0.0.1", None),
        ("64:ff9b::7f00:1", None),
        ("169.254.169.254", "cloud metadata address"),
        ("fd00:ec2::254", "cloud metadata address"),
        ("0.0.0.0", "unspecified address"),
        ("ff02::1", "multicast address"),
    ],
)
def test_is_blocked_ip_allow_private(text: str, reason: str | None) -> None:
    assert is_blocked_ip(ipaddress.ip_address(text), allow_private=True) == reason


# --- the exception and the target (157) -----------------------------------------------------------


def test_url_not_allowed_carries_url_and_reason() -> None:
    exc = UrlNotAllowed("http://10.0.0.1/", "IP address '10.0.0.1' is not allowed")
    assert (exc.url, exc.reason) == ("http://10.0.0.1/", "IP address '10.0.0.1' is not allowed")
    assert str(exc) == "URL not allowed: IP address '10.0.0.1' is not allowed"
    assert type(exc).__name__ == "UrlNotAllowed"
    assert isinstance(exc, Exception)


@pytest.mark.parametrize(
    ("url", "host_header"),
    [
        ("http://example.com/", "example.com"),
        ("https://example.com:443/", "example.com"),
        ("http://example.com:443/", "example.com:443"),
        ("https://example.com:8443/", "example.com:8443"),
        ("http://[2001:db8::1]/", "[2001:db8::1]"),
        ("http://[2001:db8::1]:8080/", "[2001:db8::1]:8080"),
        ("http://0x08080808:81/", "8.8.8.8:81"),
    ],
)
def test_host_header(url: str, host_header: str) -> None:
    assert static_check(url, allow_private=False).host_header == host_header


def test_parsed_target_is_frozen() -> None:
    target = static_check("https://example.com/", allow_private=False)
    with pytest.raises(AttributeError):
        target.host = "evil.example"  # type: ignore[misc]
