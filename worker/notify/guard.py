"""Which addresses a callback URL may reach: public ones only, unless a network is allowed
(``STATUSWATCH_CALLBACK_ALLOW_NETWORKS``). Checked at each delivery, on the addresses the
name resolves to then, and the connection goes to the address checked (a name that
resolves elsewhere a moment later cannot move it)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from typing import Any

#: host, port -> getaddrinfo's answer (tests inject their own: no real DNS)
Resolver = Callable[[str, int], Sequence[tuple[Any, ...]]]
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: cloud metadata services: named in the refusal (they are link-local or private too)
METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})


class Refused(Exception):
    """The URL may not be called; the text says why (no secret in it: addresses only)."""


def system_resolver(host: str, port: int) -> Sequence[tuple[Any, ...]]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def kind_of(address: Address) -> str | None:
    """Why an address is refused by default (None: a public address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return kind_of(address.ipv4_mapped)
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

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses ``host`` resolves to now, every one of them allowed.

        Raises:
            Refused: one of them is not public and no allowed network holds it.
            OSError: the name does not resolve (a transient failure).
        """
        found: list[str] = []
        for info in self.resolver(host, port):
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
