"""Who may open the gateway's telephony ports (FastAGI, AudioSocket): the Asterisk servers only.

Both protocols carry no credentials, so the listeners bind 127.0.0.1 unless `voice_host` says
otherwise, and a connection from an address outside `voice_allow` (addresses or networks; by
default loopback and the host of `ami_url`) is closed unread.
"""
from __future__ import annotations

import ipaddress
import logging
import socket

from hotline.logs import log_fields

log = logging.getLogger("hotline.voice")

LOOPBACK = ("127.0.0.0/8", "::1/128")


class PeerFilter:
    def __init__(self, allowed: list[str] | tuple[str, ...] = LOOPBACK):
        self.networks = [parse_network(a) for a in allowed]
        self._warned: set[str] = set()

    @classmethod
    def for_settings(cls, allow: str, ami_host: str = "") -> "PeerFilter":
        """`allow`: "10.0.0.5, 10.0.1.0/24" (empty: loopback and the AMI host)."""
        entries = [a.strip() for a in (allow or "").split(",") if a.strip()]
        if not entries:
            entries = list(LOOPBACK) + resolve(ami_host)
        return cls(entries)

    def allows(self, peername) -> bool:
        host = peername[0] if isinstance(peername, (tuple, list)) and peername else ""
        try:
            addr = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            return False
        if addr.version == 6 and addr.ipv4_mapped:
            addr = addr.ipv4_mapped
        if any(addr in net for net in self.networks):
            return True
        if host not in self._warned:
            self._warned.add(host)
            log.warning("telephony connection refused: not an allowed Asterisk address (voice_allow)",
                        extra=log_fields(peer=host))
        return False


def parse_network(text: str):
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"voice_allow: {text!r} is not an address or network (e.g. 10.0.0.5 or 10.0.0.0/24)") from None


def resolve(host: str) -> list[str]:
    if not host:
        return []
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, None)})
    except OSError:
        log.warning("ami_url's host does not resolve: not added to voice_allow", extra=log_fields(host=host))
        return []
