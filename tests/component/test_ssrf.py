"""The SSRF guard: every unsafe address form refused (as a literal, in numeric disguise,
and behind a host name whose resolution is mocked), public addresses accepted, the
allow list as the one escape hatch, the metadata endpoints refused always."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.component.helpers import set_env

# (address as resolved, why it is refused)
UNSAFE_ADDRESSES = [
    ("10.0.0.1", "private 10/8"),
    ("10.255.255.255", "private 10/8"),
    ("172.16.0.1", "private 172.16/12"),
    ("172.31.255.254", "private 172.16/12"),
    ("192.168.0.1", "private 192.168/16"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback v6"),
    ("169.254.0.1", "link-local"),
    ("169.254.169.254", "metadata"),
    ("169.254.170.2", "ECS credentials"),
    ("fe80::1", "link-local v6"),
    ("febf::1", "link-local v6"),
    ("fd00:ec2::254", "EC2 metadata v6"),
    ("100.64.0.1", "CGNAT"),
    ("100.127.255.254", "CGNAT"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "this network 0/8"),
    ("::", "unspecified v6"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast v6"),
    ("ff0e::1", "multicast v6 global scope"),
    ("fc00::1", "ULA"),
    ("fd12:3456:789a::1", "ULA"),
    ("fec0::1", "site-local"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:10.0.0.1", "IPv4-mapped private"),
    ("::ffff:169.254.169.254", "IPv4-mapped metadata"),
    ("::127.0.0.1", "IPv4-compatible"),
    ("64:ff9b::7f00:1", "NAT64 of loopback"),
    ("64:ff9b::a9fe:a9fe", "NAT64 of metadata"),
    ("64:ff9b::c0a8:1", "NAT64 of private"),
    ("64:ff9b:1::808:808", "local-use NAT64"),
    ("2002:7f00:1::", "6to4 of loopback"),
    ("2002:a9fe:a9fe::1", "6to4 of metadata"),
    ("2002:c0a8:101::1", "6to4 of private"),
    ("2001::1", "Teredo"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("2001:db8::1", "documentation v6"),
    ("3fff::1", "documentation v6 (RFC 9637)"),
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.254", "benchmarking"),
    ("2001:2::1", "benchmarking v6"),
    ("192.0.0.1", "IETF protocol assignments"),
    ("192.88.99.1", "6to4 relay anycast"),
    ("100::1", "discard-only"),
]

# Numeric spellings of unsafe IPv4 addresses that inet_aton (and so the HTTP client's
# resolver) would read as the address.
NUMERIC_TRICKS = [
    ("2130706433", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("0x7F.0.0.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("017700000001", "127.0.0.1"),
    ("0", "0.0.0.0"),
    ("3232235521", "192.168.0.1"),
    ("0xa9fea9fe", "169.254.169.254"),
    ("2852039166", "169.254.169.254"),
    ("0251.0376.0251.0376", "169.254.169.254"),
    ("169.254.43518", "169.254.169.254"),
    ("10.1", "10.0.0.1"),
    ("127.0.0.1.", "127.0.0.1"),
]

SAFE_ADDRESSES = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "52.95.110.1",
                  "2606:4700:4700::1111", "2a00:1450:4001:82b::200e",
                  "64:ff9b::808:808",   # NAT64 of a public address
                  "2002:808:808::1",    # 6to4 of a public address
                  "::ffff:8.8.8.8"]     # IPv4-mapped public address


def _url(address: str, scheme: str = "https") -> str:
    host = f"[{address}]" if ":" in address else address
    return f"{scheme}://{host}/hooks"


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: Any) -> Iterator[None]:
    from chalicelib.core.settings import reset_settings

    monkeypatch.delenv("GATEHOUSE_WEBHOOK_ALLOWED_HOSTS", raising=False)
    reset_settings()
    yield
    reset_settings()


@pytest.fixture
def dns(monkeypatch: Any) -> dict[str, list[str]]:
    """A fake resolver: names map to address lists; anything else does not resolve."""
    table: dict[str, list[str]] = {}

    def fake(host: str, port: Any, family: int = 0, type: int = 0, proto: int = 0,
             flags: int = 0) -> list[Any]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for addr in table[host]:
            if ":" in addr:
                out.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (addr, port, 0, 0)))
            else:
                out.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (addr, port)))
        return out

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return table


# -- the address table ------------------------------------------------------------

@pytest.mark.parametrize("address,why", UNSAFE_ADDRESSES, ids=[a for a, _ in UNSAFE_ADDRESSES])
def test_unsafe_address_refused_as_literal(address: str, why: str) -> None:
    from chalicelib.webhooks import ssrf

    assert ssrf.unsafe_reason(ipaddress.ip_address(address)), why
    with pytest.raises(ssrf.BlockedTarget):
        ssrf.check_url(_url(address))
    with pytest.raises(ssrf.BlockedTarget):
        ssrf.resolve(_url(address))


@pytest.mark.parametrize("address,why", UNSAFE_ADDRESSES, ids=[a for a, _ in UNSAFE_ADDRESSES])
def test_unsafe_address_refused_behind_a_name(dns: dict[str, list[str]], address: str,
                                              why: str) -> None:
    from chalicelib.webhooks import ssrf

    dns["hooks.example.com"] = [address]
    ssrf.check_url("https://hooks.example.com/in")  # the form is fine: no DNS yet
    with pytest.raises(ssrf.BlockedTarget) as caught:
        ssrf.resolve("https://hooks.example.com/in")
    assert not isinstance(caught.value, ssrf.ResolutionFailed)


@pytest.mark.parametrize("host,means", NUMERIC_TRICKS, ids=[h for h, _ in NUMERIC_TRICKS])
def test_numeric_host_tricks_are_normalised_and_refused(dns: dict[str, list[str]], host: str,
                                                        means: str) -> None:
    from chalicelib.webhooks import ssrf

    assert ssrf.literal_ip(ssrf.normal_host(host)) == ipaddress.ip_address(means)
    for scheme in ("http", "https"):
        url = f"{scheme}://{host}:8080/x"
        with pytest.raises(ssrf.BlockedTarget):
            ssrf.check_url(url)
        with pytest.raises(ssrf.BlockedTarget):
            ssrf.resolve(url)


def test_numeric_normalisation_agrees_with_inet_aton() -> None:
    from chalicelib.webhooks import ssrf

    for host, _ in NUMERIC_TRICKS:
        text = host.rstrip(".")
        assert str(ssrf.numeric_ipv4(text.lower())) == socket.inet_ntoa(socket.inet_aton(text))


@pytest.mark.parametrize("host", ["256.0.0.1", "1.2.3.4.5", "0x100000000", "1.16777216",
                                  "08.0.0.1", "0x1g.0.0.1", "example.0x7f",
                                  "hooks.example.123"])
def test_malformed_numeric_hosts_refused(host: str) -> None:
    from chalicelib.webhooks import ssrf

    with pytest.raises(ssrf.BlockedTarget):
        ssrf.check_url(f"https://{host}/x")


@pytest.mark.parametrize("address", SAFE_ADDRESSES)
def test_public_addresses_accepted(dns: dict[str, list[str]], address: str) -> None:
    from chalicelib.webhooks import ssrf

    assert ssrf.unsafe_reason(ipaddress.ip_address(address)) is None
    ssrf.check_url(_url(address))
    assert ssrf.resolve(_url(address)) == [ipaddress.ip_address(address)]
    dns["api.partner.example"] = [address]
    assert ssrf.resolve("https://api.partner.example/x") == [ipaddress.ip_address(address)]


def test_resolve_answers_every_checked_address_once(dns: dict[str, list[str]]) -> None:
    from chalicelib.webhooks import ssrf

    dns["multi.example.com"] = ["93.184.216.34", "2606:4700:4700::1111", "93.184.216.34"]
    assert ssrf.resolve("https://multi.example.com:8443/x") == [
        ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("2606:4700:4700::1111")]


def test_any_unsafe_address_refuses_the_name(dns: dict[str, list[str]]) -> None:
    """A name with one public and one private address is a rebinding trick."""
    from chalicelib.webhooks import ssrf

    dns["rebind.example.com"] = ["93.184.216.34", "10.0.0.7"]
    with pytest.raises(ssrf.BlockedTarget, match="resolves to a private address") as caught:
        ssrf.resolve("https://rebind.example.com/x")
    assert "10.0.0.7" not in str(caught.value)


@pytest.mark.parametrize("address,why", UNSAFE_ADDRESSES, ids=[a for a, _ in UNSAFE_ADDRESSES])
def test_a_refusal_never_names_the_address_dns_answered(dns: dict[str, list[str]],
                                                        address: str, why: str) -> None:
    """Which rule refused, not what the name resolved to: otherwise registering webhooks
    would be a DNS oracle for internal names."""
    from chalicelib.webhooks import ssrf

    dns["inside.example.com"] = [address]
    with pytest.raises(ssrf.BlockedTarget) as caught:
        ssrf.resolve("https://inside.example.com/x")
    err = caught.value
    text = f"{err.message} {err.details}"
    assert "inside.example.com resolves to " in err.message, why
    ip = ipaddress.ip_address(address)
    for form in {address, str(ip), ip.exploded, *_networks_of(ip)}:
        assert form not in text, (form, text)


def _networks_of(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[str]:
    """The blocked ranges holding the address (naming one would narrow it down)."""
    from chalicelib.webhooks import ssrf

    return [str(net) for net, _ in ssrf.BLOCKED if net.version == ip.version and ip in net]


def test_a_refusal_says_which_rule_refused(dns: dict[str, list[str]]) -> None:
    from chalicelib.webhooks import ssrf

    for address, rule in (("10.1.2.3", "a private address"), ("127.0.0.9", "a loopback address"),
                          ("169.254.169.254", "a cloud metadata address"),
                          ("::ffff:192.168.1.1", "an IPv6 address embedding a private address")):
        dns["inside.example.com"] = [address]
        with pytest.raises(ssrf.BlockedTarget, match=f"inside.example.com resolves to {rule}"):
            ssrf.resolve("https://inside.example.com/x")
    # An address the caller wrote may be named back.
    with pytest.raises(ssrf.BlockedTarget, match="10.1.2.3 is a private address"):
        ssrf.resolve("https://10.1.2.3/x")


def test_unresolvable_name_is_a_typed_resolution_failure(dns: dict[str, list[str]]) -> None:
    from chalicelib.webhooks import ssrf

    with pytest.raises(ssrf.ResolutionFailed):
        ssrf.resolve("https://nowhere.example.com/x")


# -- URL form ----------------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "ftp://example.com/x", "file:///etc/passwd", "gopher://example.com/", "javascript:alert(1)",
    "example.com/hooks", "//example.com/hooks", "/hooks", "", "https://",
    "https://user:pass@example.com/x", "https://user@example.com/x",
    "https://example.com\\@127.0.0.1/x", "https://exa mple.com/x", "https://example.com/\n",
    "https://example.com:0/x", "https://example.com:99999/x", "https://[::1/x",
    "https://%31%32%37.0.0.1/x", "https://[fe80::1%25eth0]/x", "https://ex_ample-.com/x",
    "https://" + "a" * 64 + ".com/x", "https://example.com/" + "a" * 2048,
    "https://localhost/x", "https://LOCALHOST./x", "https://api.localhost/x",
    "https://printer.local/x", "https://metadata.google.internal/x", "https://intranet/x",
])
def test_bad_url_forms_refused(url: str) -> None:
    from chalicelib.webhooks import ssrf

    with pytest.raises(ssrf.BlockedTarget):
        ssrf.check_url(url)


def test_idn_hosts_are_encoded(dns: dict[str, list[str]]) -> None:
    from chalicelib.webhooks import ssrf

    dns["xn--bcher-kva.example"] = ["93.184.216.34"]
    assert ssrf.resolve("https://bücher.example/x") == [ipaddress.ip_address("93.184.216.34")]


def test_https_required_in_deployed_stages(monkeypatch: Any,
                                           dns: dict[str, list[str]]) -> None:
    from chalicelib.webhooks import ssrf

    ssrf.check_url("http://hooks.example.com/x")  # test stage: http is fine
    set_env(monkeypatch, GATEHOUSE_STAGE="prod")
    with pytest.raises(ssrf.BlockedTarget, match="https"):
        ssrf.check_url("http://hooks.example.com/x")
    ssrf.check_url("https://hooks.example.com/x")


# -- the allow list ----------------------------------------------------------------

def test_allow_list_opens_listed_hosts_and_cidrs_only(monkeypatch: Any,
                                                      dns: dict[str, list[str]]) -> None:
    from chalicelib.webhooks import ssrf

    set_env(monkeypatch, GATEHOUSE_STAGE="prod",
            GATEHOUSE_WEBHOOK_ALLOWED_HOSTS="127.0.0.1,localhost,10.20.0.0/16, receiver.corp")
    dns["localhost"] = ["127.0.0.1", "::1"]
    dns["receiver.corp"] = ["192.168.7.7"]
    dns["other.example.com"] = ["10.20.3.4"]
    dns["sneaky.example.com"] = ["127.0.0.2"]
    assert ssrf.resolve("http://127.0.0.1:9000/x") == [ipaddress.ip_address("127.0.0.1")]
    assert len(ssrf.resolve("http://localhost:9000/x")) == 2
    assert ssrf.resolve("http://receiver.corp/x") == [ipaddress.ip_address("192.168.7.7")]
    assert ssrf.resolve("https://10.20.1.1/x") == [ipaddress.ip_address("10.20.1.1")]
    # a listed CIDR opens its addresses, wherever the name came from
    assert ssrf.resolve("https://other.example.com/x") == [ipaddress.ip_address("10.20.3.4")]
    for url in ("http://127.0.0.2/x", "https://10.21.0.1/x", "https://192.168.7.7/x",
                "https://sneaky.example.com/x", "http://2130706434/x"):
        with pytest.raises(ssrf.BlockedTarget):
            ssrf.resolve(url)
    # http only for the listed ones in a deployed stage
    with pytest.raises(ssrf.BlockedTarget, match="https"):
        ssrf.check_url("http://hooks.example.com/x")


def test_metadata_refused_even_when_allow_listed(monkeypatch: Any,
                                                 dns: dict[str, list[str]]) -> None:
    from chalicelib.webhooks import ssrf

    set_env(monkeypatch, GATEHOUSE_WEBHOOK_ALLOWED_HOSTS=(
        "169.254.169.254,169.254.0.0/16,fd00:ec2::/32,::/0,0.0.0.0/0,metadata.example.com"))
    dns["metadata.example.com"] = ["169.254.169.254"]
    dns["metadata6.example.com"] = ["fd00:ec2::254"]
    for url in ("http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/",
                "http://0xa9fea9fe/", "http://[::ffff:169.254.169.254]/",
                "http://[64:ff9b::a9fe:a9fe]/", "http://metadata.example.com/",
                "http://metadata6.example.com/", "http://169.254.170.2/v2/credentials"):
        with pytest.raises(ssrf.BlockedTarget, match="metadata"):
            ssrf.resolve(url)
    # the rest of the listed link-local range is open
    assert ssrf.resolve("http://169.254.1.1/") == [ipaddress.ip_address("169.254.1.1")]
