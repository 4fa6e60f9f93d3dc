"""Which addresses a callback URL may reach: public ones only, unless a network is allowed
(``STATUSWATCH_CALLBACK_ALLOW_NETWORKS``). Checked at each delivery, on the addresses the
name resolves to then, and the connection goes to the address checked (a name that
resolves elsewhere a moment later cannot move it)."""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

#: host, port -> getaddrinfo's answer (tests inject their own: no real DNS)
Resolver = Callable[[str, int], Sequence[tuple[Any, ...]]]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: cloud metadata services: named in the refusal (they are link-local or private too)
METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
#: NAT64's well-known prefix: the last 32 bits are the IPv4 address reached
NAT64 = ipaddress.ip_network("64:ff9b::/96")


#: resolutions under way in this process at most (a resolver that hangs holds a thread each)
MAX_RESOLVING = 16
_resolving = threading.BoundedSemaphore(MAX_RESOLVING)


def _reset_after_fork() -> None:  # the threads holding places did not come along
    global _resolving
    _resolving = threading.BoundedSemaphore(MAX_RESOLVING)


os.register_at_fork(after_in_child=_reset_after_fork)


class Refused(Exception):
    """The URL may not be called; the text says why (no secret in it: addresses only)."""


def system_resolver(host: str, port: int) -> Sequence[tuple[Any, ...]]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def resolve(resolver: Resolver, host: str, port: int, timeout_s: float | None) -> Sequence[tuple[Any, ...]]:
    """``resolver(host, port)``, given up after ``timeout_s`` (``TimeoutError``; None: no
    limit). getaddrinfo has no timeout of its own: it runs in a daemon thread, which a
    resolver that hangs keeps until it returns, at most ``MAX_RESOLVING`` at once."""
    if timeout_s is None:
        return resolver(host, port)
    places = _resolving
    if not places.acquire(blocking=False):
        raise TimeoutError("callback_url: too many resolutions under way")
    answer: list[Sequence[tuple[Any, ...]]] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            answer.append(resolver(host, port))
        except BaseException as exc:  # handed to the caller
            failure.append(exc)
        finally:
            places.release()

    thread = threading.Thread(target=run, name="statuswatch-resolve", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if failure:
        raise failure[0]
    if not answer:
        raise TimeoutError(f"callback_url: the host did not resolve within {timeout_s:g} s")
    return answer[0]


def embedded(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries to reach it: IPv4-mapped, 6to4 (2002::/16) or
    NAT64's well-known prefix (64:ff9b::/96); None for another."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def kind_of(address: Address) -> str | None:
    """Why an address is refused by default (None: a public address)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded(address)
        if inner is not None and (kind := kind_of(inner)) is not None:
            return kind
        if address.is_site_local:  # fec0::/10, deprecated, still routed inside some sites
            return "a site-local address"
    if address in METADATA:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if address.is_multicast or address.is_unspecified or address.is_reserved or not address.is_global:
        return "not a public address"
    return None


class Guard:
    def __init__(self, allow_networks: Sequence[str] = (), resolver: Resolver = system_resolver) -> None:
        self.allowed = [ipaddress.ip_network(n, strict=False) for n in allow_networks]
        self.resolver = resolver

    def addresses(self, host: str, port: int, timeout_s: float | None = None) -> list[str]:
        """The addresses ``host`` resolves to now (within ``timeout_s``), every one of them allowed.

        Raises:
            Refused: one of them is not public and no allowed network holds it.
            OSError: the name does not resolve (a transient failure; ``TimeoutError``: not in time).
        """
        found: list[str] = []
        for info in resolve(self.resolver, host, port, timeout_s):
            text = str(info[4][0]).split("%", 1)[0]  # an IPv6 zone index is no part of the address
            address = ipaddress.ip_address(text)
            kind = kind_of(address)
            if kind is not None and not any(address in network for network in self.allowed):
                raise Refused(
                    f"callback_url: refused: the host resolves to {address}, {kind} "
                    "(STATUSWATCH_CALLBACK_ALLOW_NETWORKS can allow it for local use)"
                )
            if text not in found:
                found.append(text)
        if not found:
            raise OSError("callback_url: the host resolves to no address")
        return found
