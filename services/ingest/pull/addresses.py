"""Where an HTTP pull job may connect: a host on the allowlist, at a public address.

Checked twice: when a job is saved (the URL's host against the allowlist, an IP literal or
what the name resolves to then against the address rules) and when it runs, after resolving
the name again; the request then goes to the address that was checked (`Target`), so a name
re-pointed between the check and the connection (DNS rebinding) cannot move it. Redirects are
not followed. Loopback and private addresses are refused unless
`ingest_pull_allow_private_addresses`; link-local (the cloud metadata address),
unspecified, multicast and reserved addresses always.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from services.ingest.config import IngestSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64 = ipaddress.ip_network("64:ff9b::/96")
SETTING = "MINDLAKE_INGEST_PULL_ALLOWED_HOSTS"


class Refused(Exception):
    """The URL may not be called; the message says why (it names no secret)."""


class Unresolved(Refused):
    """The host name does not resolve (now)."""


@dataclass(frozen=True)
class HostPolicy:
    allowed: tuple[str, ...]  # lower-case names or IP literals; "*" for any host
    allow_private: bool

    @classmethod
    def of(cls, settings: IngestSettings) -> HostPolicy:
        return cls(
            allowed=tuple(
                entry
                for raw in settings.ingest_pull_allowed_hosts.split(",")
                if (entry := _entry(raw))
            ),
            allow_private=settings.ingest_pull_allow_private_addresses,
        )


@dataclass(frozen=True)
class Target:
    """A checked URL: its host as written, and the address to connect to."""

    host: str
    port: int
    address: IPAddress


def host_allowed(policy: HostPolicy, host: str) -> bool:
    """`host` is on the allowlist: the entry itself, or a subdomain of a name entry."""
    literal = _literal(host)
    for entry in policy.allowed:
        if entry == "*":
            return True
        if literal is not None:
            if _literal(entry) == literal:
                return True
        elif host == entry or host.endswith("." + entry):
            return True
    return False


def address_refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why a connection to `address` is refused, or None when it may be made."""
    address = _embedded_v4(address)
    if address.is_unspecified:
        return "is an unspecified address"
    if address.is_multicast:
        return "is a multicast address"
    if address.is_link_local:
        return "is a link-local address (where cloud metadata services answer)"
    if address.is_loopback:
        return None if allow_private else "is a loopback address"
    if address.is_reserved:
        return "is a reserved address"
    if address.is_private or not address.is_global:
        return None if allow_private else "is a private address"
    return None


def checked_host(url: str, policy: HostPolicy) -> tuple[str, int]:
    """The URL's host and port if the URL may be called at all (before any resolution)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise Refused("must not carry credentials: send them as a header (stored encrypted)")
    host = parts.hostname.rstrip(".")
    if not host.isascii():
        raise Refused("the host must be written in ASCII (the xn-- form of a non-ASCII name)")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("has an invalid port") from None
    if not policy.allowed:
        raise Refused(f"HTTP sources are off: list the hosts jobs may call in {SETTING}")
    if not host_allowed(policy, host):
        raise Refused(f"the host is not in {SETTING}")
    literal = _literal(host)
    if literal is not None:
        reason = address_refusal(literal, allow_private=policy.allow_private)
        if reason is not None:
            raise Refused(f"the host {reason}")
    return host, port


async def resolve(url: str, policy: HostPolicy, *, timeout_s: float) -> Target:
    """Check the URL, resolve its host and check every address it resolves to."""
    host, port = checked_host(url, policy)
    literal = _literal(host)
    if literal is not None:
        return Target(host=host, port=port, address=literal)
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM),
            timeout=timeout_s,
        )
    except (OSError, TimeoutError):
        raise Unresolved("the host name does not resolve") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise Unresolved("the host name does not resolve")
    for address in addresses:  # all of them: a mixed answer is not a public host
        reason = address_refusal(address, allow_private=policy.allow_private)
        if reason is not None:
            raise Refused(f"the host resolves to an address that {reason}")
    return Target(host=host, port=port, address=addresses[0])


async def creation_refusal(url: str, policy: HostPolicy, *, timeout_s: float) -> str | None:
    """Why a job with this URL may not be saved, or None. A name that does not resolve yet is
    accepted (the run checks it again)."""
    try:
        await resolve(url, policy, timeout_s=timeout_s)
    except Unresolved:
        return None
    except Refused as exc:
        return str(exc)
    return None


def _entry(raw: str) -> str:
    """An allowlist entry as compared: lower case, no brackets, no leading `*.` or `.`."""
    entry = raw.strip().lower().rstrip(".")
    if entry == "*":
        return entry
    return entry.removeprefix("*").lstrip(".").strip("[]")


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _embedded_v4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, 6to4), else the address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return address
