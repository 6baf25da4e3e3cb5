"""The SSRF guard for webhook targets.

Two checks, both used by registration and by every delivery attempt:

- `check_url(url)`: the URL's form. http(s) only, absolute, at most 2048 characters, no
  userinfo, a well-formed host; https required in deployed stages unless the host is
  allow-listed; numeric hosts ("2130706433", "0177.0.0.1", "0x7f000001", "127.1") are
  normalised the way inet_aton reads them and judged as the address they really are;
  names that can only be internal (localhost, *.local, *.internal, ...) are refused.
- `resolve(url)`: the host's addresses (getaddrinfo). If ANY address is unsafe the
  target is refused (a name that resolves to one public and one private address is a
  rebinding trick); otherwise the safe addresses are answered and the delivery connects
  only to those (no second DNS lookup, so no DNS rebinding between check and connect).
  A refusal says which rule refused ("resolves to a private address") and never names
  an address that DNS answered.

Unsafe: everything that is not globally routable unicast (private, loopback, link-local,
CGNAT, unspecified, reserved, multicast, broadcast, ULA, documentation, benchmarking,
discard, Teredo, NAT64 local-use, ...), and IPv6 forms that embed an IPv4 address
(IPv4-mapped ::ffff:0:0/96, NAT64 64:ff9b::/96, 6to4 2002::/16, IPv4-compatible ::/96)
are judged by the embedded address.

`GATEHOUSE_WEBHOOK_ALLOWED_HOSTS` (comma-separated host names, IPs or CIDRs) is the one
escape hatch: a listed host name may resolve anywhere, an address inside a listed
IP/CIDR is accepted, and both may use http:// in deployed stages. The cloud metadata
endpoints (169.254.169.254, fd00:ec2::254 and the container credential endpoints) are
refused always, allow-list or not. The guard applies in every stage, tests included: a
test that delivers to a loopback receiver sets GATEHOUSE_WEBHOOK_ALLOWED_HOSTS=127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Any
from urllib.parse import SplitResult, urlsplit

from chalicelib.core.errors import Unprocessable
from chalicelib.core.settings import get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2048


class BlockedTarget(Unprocessable):
    """The webhook target is not allowed (a 422 at registration; a failed attempt, not
    retried as a transient error, at delivery)."""

    default_message = "The webhook URL is not allowed."

    def __init__(self, reason: str, field: str = "url") -> None:
        super().__init__(f"The webhook URL is not allowed: {reason}.",
                         details=[{"field": field, "message": reason}])
        self.reason = reason


class ResolutionFailed(BlockedTarget):
    """The host did not resolve (may be transient: delivery retries it)."""


_N = ipaddress.ip_network

# Refused always, even when allow-listed: the cloud metadata and credential endpoints.
METADATA: tuple[IPNetwork, ...] = (
    _N("169.254.169.254/32"),   # EC2/GCP/Azure instance metadata
    _N("169.254.170.2/32"),     # ECS task credentials
    _N("169.254.170.23/32"),    # EKS pod identity
    _N("fd00:ec2::254/128"),    # EC2 instance metadata over IPv6
    _N("fd00:ec2::23/128"),     # EKS pod identity over IPv6
    _N("100.100.100.200/32"),   # Alibaba Cloud metadata
)

# (network, what an address in it is) for every range that is not public unicast. Order
# matters only for the reason given; every match refuses. A refusal names the address only
# when the caller wrote it: one that DNS answered is described, never shown (the error
# would otherwise tell a caller what internal names resolve to).
BLOCKED: tuple[tuple[IPNetwork, str], ...] = (
    (_N("0.0.0.0/8"), "a this-network address"),
    (_N("10.0.0.0/8"), "a private address"),
    (_N("100.64.0.0/10"), "a carrier-grade NAT address"),
    (_N("127.0.0.0/8"), "a loopback address"),
    (_N("169.254.0.0/16"), "a link-local address"),
    (_N("172.16.0.0/12"), "a private address"),
    (_N("192.0.0.0/24"), "an IETF protocol assignment"),
    (_N("192.0.2.0/24"), "a documentation address"),
    (_N("192.31.196.0/24"), "an AS112 address"),
    (_N("192.52.193.0/24"), "an AMT address"),
    (_N("192.88.99.0/24"), "a 6to4 relay anycast address"),
    (_N("192.168.0.0/16"), "a private address"),
    (_N("192.175.48.0/24"), "an AS112 address"),
    (_N("198.18.0.0/15"), "a benchmarking address"),
    (_N("198.51.100.0/24"), "a documentation address"),
    (_N("203.0.113.0/24"), "a documentation address"),
    (_N("224.0.0.0/4"), "a multicast address"),
    (_N("240.0.0.0/4"), "a reserved address"),
    (_N("255.255.255.255/32"), "the broadcast address"),
    (_N("::/128"), "the unspecified address"),
    (_N("::1/128"), "a loopback address"),
    (_N("::/96"), "an IPv4-compatible address (deprecated)"),
    (_N("64:ff9b:1::/48"), "a local-use NAT64 address"),
    (_N("100::/64"), "a discard-only address"),
    (_N("2001::/32"), "a Teredo address"),
    (_N("2001::/23"), "an IETF protocol assignment"),
    (_N("2001:db8::/32"), "a documentation address"),
    (_N("3fff::/20"), "a documentation address"),
    (_N("5f00::/16"), "a segment routing SID"),
    (_N("fc00::/7"), "a unique local address"),
    (_N("fe80::/10"), "a link-local address"),
    (_N("fec0::/10"), "a site-local address (deprecated)"),
    (_N("ff00::/8"), "a multicast address"),
)
_MAPPED = _N("::ffff:0:0/96")
_NAT64 = _N("64:ff9b::/96")
_SIX_TO_FOUR = _N("2002::/16")

_INTERNAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback",
                   "broadcasthost")
_INTERNAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa",
                      ".intranet", ".lan", ".corp", ".private")
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_NUMERIC_PART = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")


# -- addresses ---------------------------------------------------------------------

def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip in _MAPPED:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIX_TO_FOUR:
        return ip.sixtofour
    return None


def is_metadata(ip: IPAddress) -> bool:
    inner = embedded_ipv4(ip)
    if inner is not None and is_metadata(inner):
        return True
    return any(ip in net for net in METADATA if net.version == ip.version)


def _judge(ip: IPAddress) -> tuple[str, str] | None:
    """(what the address is, without naming it; the range or address that says why), or
    None if it is public unicast."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        return "an IPv6 address with a zone id", ""
    if is_metadata(ip):
        return "a cloud metadata address", ""
    inner = embedded_ipv4(ip)
    if inner is not None:
        judged = _judge(inner)
        return (f"an IPv6 address embedding {judged[0]}", str(inner)) if judged else None
    for net, kind in BLOCKED:
        if net.version == ip.version and ip in net:
            return kind, str(net)
    if ip.is_multicast or ip.is_private or ip.is_reserved or ip.is_loopback \
            or ip.is_link_local or ip.is_unspecified or not ip.is_global:
        return "a non-public address", ""
    return None


def unsafe_kind(ip: IPAddress) -> str | None:
    """What this address is, without naming it ("a private address"), or None if it is
    public unicast: the reason given for an address that DNS answered."""
    judged = _judge(ip)
    return judged[0] if judged else None


def unsafe_reason(ip: IPAddress) -> str | None:
    """Why this address must not be a webhook target, naming it (only for an address the
    caller wrote), or None if it is public unicast."""
    judged = _judge(ip)
    if judged is None:
        return None
    kind, why = judged
    return f"{ip} is {kind}" + (f" ({why})" if why else "")


# -- hosts -------------------------------------------------------------------------

def _numeric_part(text: str) -> int | None:
    if not _NUMERIC_PART.match(text):
        return None
    if text.startswith("0x"):
        return int(text[2:] or "0", 16)
    if len(text) > 1 and text.startswith("0"):
        if any(c in "89" for c in text):
            raise BlockedTarget(f"the host {text!r} is not a valid octal number")
        return int(text, 8)
    return int(text)


def numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address inet_aton would read from a numeric host ("127.1", "0x7f000001",
    "0177.0.0.1", "2130706433"), None if the host is a name. A host that looks numeric
    but is out of range is refused rather than guessed at."""
    parts = host.split(".")
    if not parts or not all(_NUMERIC_PART.match(p) for p in parts):
        if parts and _NUMERIC_PART.match(parts[-1]):
            # As the WHATWG URL parser: a host ending in a number is an IPv4 address or
            # invalid, never a name.
            raise BlockedTarget("the host ends in a number but is not an IPv4 address")
        return None
    if len(parts) > 4:
        raise BlockedTarget("the host is a malformed numeric address")
    values = [_numeric_part(p) for p in parts]
    nums = [v for v in values if v is not None]
    head, last = nums[:-1], nums[-1]
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(nums)):
        raise BlockedTarget("the host is a malformed numeric address")
    value = 0
    for v in head:
        value = value * 256 + v
    value = value * 256 ** (5 - len(nums)) + last
    return ipaddress.IPv4Address(value)


def literal_ip(host: str) -> IPAddress | None:
    """The address a host names if it is an IP literal in any spelling, else None."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise BlockedTarget("the host is a malformed IPv6 address") from exc
    return numeric_ipv4(host)


def normal_host(host: str) -> str:
    """Lower case, no trailing dot, IDNA-encoded; refused if not a valid host."""
    text = host.strip().rstrip(".").lower()
    if not text:
        raise BlockedTarget("the URL has no host")
    if ":" in text:
        return text
    try:
        text = text.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise BlockedTarget("the host is not a valid domain name") from exc
    if len(text) > 253 or not all(_LABEL.match(label) for label in text.split(".")):
        raise BlockedTarget("the host is not a valid domain name")
    return text


# -- the allow list --------------------------------------------------------------

def _allowed() -> tuple[set[str], list[IPNetwork]]:
    names: set[str] = set()
    nets: list[IPNetwork] = []
    for entry in get_settings().webhook_allowed_hosts:
        text = entry.strip().lower().rstrip(".")
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        try:
            nets.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            if text:
                names.add(text)
    return names, nets


def _host_allowed(host: str, ip: IPAddress | None) -> bool:
    names, nets = _allowed()
    if host in names:
        return True
    return ip is not None and any(ip.version == n.version and ip in n for n in nets)


def _ip_allowed(ip: IPAddress) -> bool:
    _names, nets = _allowed()
    return any(ip.version == n.version and ip in n for n in nets)


# -- the checks ------------------------------------------------------------------

def _split(url: str) -> tuple[SplitResult, str]:
    if not isinstance(url, str) or not url:
        raise BlockedTarget("the URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise BlockedTarget(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url) or "\\" in url:
        raise BlockedTarget("the URL contains spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise BlockedTarget("the URL is malformed") from exc
    if parts.scheme not in ("http", "https"):
        raise BlockedTarget("only http:// and https:// URLs are accepted")
    if not parts.netloc:
        raise BlockedTarget("the URL must be absolute")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise BlockedTarget("the URL must not contain a user name or password")
    if parts.port == 0:
        raise BlockedTarget("the URL's port is not valid")
    host = parts.hostname or ""
    if "%" in host:
        raise BlockedTarget("the host must not be percent-encoded or carry a zone id")
    return parts, normal_host(host)


def check_url(url: str) -> None:
    """The URL's form (no DNS). Raises BlockedTarget."""
    parts, host = _split(url)
    ip = literal_ip(host)
    allowed = _host_allowed(host, ip)
    if ip is not None:
        if is_metadata(ip):
            raise BlockedTarget(f"{ip} is a cloud metadata address")
        why = unsafe_reason(ip)
        if why and not allowed:
            raise BlockedTarget(why)
    elif not allowed and (host in _INTERNAL_NAMES or host.endswith(_INTERNAL_SUFFIXES)
                          or "." not in host):
        raise BlockedTarget(f"the host {host!r} is an internal name")
    if parts.scheme != "https" and get_settings().is_deployed and not allowed:
        raise BlockedTarget("https:// is required")


def check_registration(url: str) -> None:
    """At registration: the URL's form, and its addresses if it resolves now (a name
    that does not resolve yet is accepted; every delivery attempt checks again)."""
    check_url(url)
    try:
        resolve(url)
    except ResolutionFailed:
        pass


def target(url: str) -> tuple[str, int]:
    """The normalised host and the port the URL points at."""
    parts, host = _split(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return host, port


def resolve(url: str) -> list[IPAddress]:
    """The addresses to connect to: every address the host resolves to must be safe
    (or allow-listed); answers them in resolver order, without duplicates. Raises
    BlockedTarget (or ResolutionFailed when the name does not resolve)."""
    check_url(url)
    host, port = target(url)
    ip = literal_ip(host)
    if ip is not None:
        found: list[IPAddress] = [ip]
    else:
        found = _lookup(host, port)
    host_listed = _host_allowed(host, None)
    for addr in found:
        kind = unsafe_kind(addr)
        if kind and (is_metadata(addr) or not (host_listed or _ip_allowed(addr))):
            # Never the resolved address itself: that would make this a DNS oracle.
            raise BlockedTarget(str(unsafe_reason(addr)) if ip is not None
                                else f"{host} resolves to {kind}")
    return found


def _lookup(host: str, port: int) -> list[IPAddress]:
    try:
        infos: list[Any] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ResolutionFailed(f"the host {host!r} does not resolve") from exc
    out: list[IPAddress] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        text = str(sockaddr[0])
        try:
            addr = ipaddress.ip_address(text.split("%")[0])
        except ValueError as exc:
            raise BlockedTarget(f"{host} resolves to an unreadable address") from exc
        if family == socket.AF_INET6 and len(sockaddr) >= 4 and sockaddr[3]:
            raise BlockedTarget(f"{host} resolves to a scoped IPv6 address")
        if addr not in out:
            out.append(addr)
    if not out:
        raise ResolutionFailed(f"the host {host!r} has no addresses")
    return out
