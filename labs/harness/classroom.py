"""Classroom mode: ``python -m labs run NAME --classroom``.

For a live demo in a lecture hall: the lab listens on every interface so phones and
laptops on the room's network can open it, and only the instructor may publish.
Reading the page and the stream stays open to everyone; ``POST /send_notification``
(and the chat's broadcast, where a lab has one) needs ``Authorization: Bearer <token>``.

The token is taken from ``LABS_TOKEN`` or made up at start, and printed once, here.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Callable
from urllib.parse import urlsplit

import psutil

TOKEN_VARIABLE = "LABS_TOKEN"


def classroom_token() -> str:
    return os.environ.get(TOKEN_VARIABLE) or secrets.token_urlsafe(12)


def network_addresses() -> list[str]:
    """This machine's IPv4 addresses that other devices could reach (not loopback)."""
    found = []
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family.name != "AF_INET":
                continue
            ip = ipaddress.ip_address(address.address)
            if not (ip.is_loopback or ip.is_link_local):
                found.append(str(ip))
    return sorted(set(found))


def student_urls(url: str) -> list[str]:
    """The URLs students can open, given the URL the lab listens on."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port
    if host in ("0.0.0.0", "127.0.0.1", "::"):
        return [f"http://{ip}:{port}/" for ip in network_addresses()] or [f"http://{host}:{port}/"]
    return [f"http://{host}:{port}/"]


def qr_text(text: str) -> str:
    """A QR code of ``text`` drawn with characters, to show in the terminal."""
    import io

    import qrcode

    code = qrcode.QRCode(border=1)
    code.add_data(text)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()


def prepare_classroom(config: dict) -> Callable[[str], None]:
    """Turn on the publish token in ``config``; return what announces the lab once it listens."""
    token = config.get("PUBLISH_TOKEN") or classroom_token()
    config["PUBLISH_TOKEN"] = token

    def announce(url: str) -> None:
        urls = student_urls(url)
        print("Classroom mode: students open", flush=True)
        for student_url in urls:
            print(f"    {student_url}", flush=True)
        print(qr_text(urls[0]), flush=True)
        print(f"Publish token (instructor only; enter it once on your page): {token}", flush=True)

    return announce
