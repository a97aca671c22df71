"""TLS for the labs: a private certificate authority, and certificates for this machine.

Why the labs need TLS at all: **browsers speak HTTP/2 only over TLS**.  HTTP/2 has a
cleartext form ("h2c"), and nginx can serve it, but no browser ever shipped it:

- a browser learns that a server speaks HTTP/2 during the TLS handshake itself (the ALPN
  extension: the client offers ``h2, http/1.1``, the server picks one), at no extra cost.
  In cleartext there is no handshake to ask in: it would take an ``Upgrade:`` round trip,
  or a guess;
- on port 80, boxes in the middle (company proxies, antivirus, hotel Wi-Fi, caches) read
  and rewrite HTTP/1.1, and broke on anything else when HTTP/2 was tried in cleartext.
  Inside TLS they see only encrypted bytes, so the new protocol gets through;
- and browser vendors chose to give new features to encrypted connections only.

So over plain ``http://`` a browser keeps HTTP/1.1 and its limit of six connections per
origin (notebook 11), and the way to HTTP/2 for a lab is nginx with TLS in front of it
(:mod:`labs.harness.nginx`, ``start_proxy(lab, http2=True)``).

What this module makes, with `trustme <https://trustme.readthedocs.io>`_:

- one **certificate authority per process**, made on first use.  Its private key lives
  only in this process's memory and is never written anywhere, so nobody else can issue a
  certificate it vouches for, and it is gone when the process ends;
- its certificate (public, no key) written to ``ca_file``: what a client trusts
  (``requests.get(url, verify=ca_file)``, ``curl --cacert ca_file``);
- server certificates for ``localhost``, ``127.0.0.1`` and ``::1`` (both names: they are
  separate origins to a browser), written with their key to a directory the caller names
  (nginx's private directory), the key readable by its owner only.

A browser does not know this CA: the kit's browser tests open such pages in a test-only
context that ignores certificate errors (``ignore_https_errors=True``), and an instructor's
own browser shows a warning once ("proceed to 127.0.0.1").  Never add this CA to a
browser's or system's trust store: it is a throwaway.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

LAB_NAMES = ("localhost", "127.0.0.1", "::1")
"""What a lab's certificate is valid for: the names this machine is reached by."""


@dataclass(frozen=True)
class ServerCertificate:
    """A server's certificate chain and key, as files (PEM), e.g. for nginx."""

    cert_file: Path
    """The server's certificate (the CA's is not sent: a client has it): nginx's ``ssl_certificate``."""
    key_file: Path
    """The server's private key (mode 0600): nginx's ``ssl_certificate_key``."""
    names: tuple[str, ...]


class LabCertificateAuthority:
    """A private CA that exists only in this process (see the module's doc).

    ``ca_file`` is its certificate, for clients to trust; :meth:`issue` writes a server
    certificate and key into a directory.
    """

    def __init__(self) -> None:
        import trustme  # imported here: only TLS needs it

        self._ca = trustme.CA(organization_name="sse-kit", organization_unit_name="private lab CA, one process only")
        self.directory = Path(tempfile.mkdtemp(prefix="sse-kit-ca-"))  # mode 0700: ours alone
        self.ca_file = self.directory / "ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_file))

    @property
    def ca_pem(self) -> bytes:
        """The CA's certificate, PEM (public: no key in it)."""
        return self._ca.cert_pem.bytes()

    def issue(self, directory: str | os.PathLike, names: tuple[str, ...] = LAB_NAMES,
              stem: str = "server") -> ServerCertificate:
        """Write ``STEM.crt`` and ``STEM.key`` for ``names`` into ``directory``."""
        leaf = self._ca.issue_cert(*names)
        directory = Path(directory)
        cert_file, key_file = directory / f"{stem}.crt", directory / f"{stem}.key"
        for blob in leaf.cert_chain_pems:
            blob.write_to_path(str(cert_file), append=True)
        # Create the key file private before a byte of the key is in it.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(leaf.private_key_pem.bytes())
        return ServerCertificate(cert_file, key_file, tuple(names))

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def __repr__(self) -> str:
        return f"<LabCertificateAuthority ca_file={str(self.ca_file)!r}>"


_authority: LabCertificateAuthority | None = None
_lock = threading.Lock()


def certificate_authority() -> LabCertificateAuthority:
    """This process's private CA, made on first use (its ``ca_file`` is removed at exit)."""
    global _authority
    with _lock:
        if _authority is None or not _authority.ca_file.exists():
            _authority = LabCertificateAuthority()
            atexit.register(_authority.remove)
        return _authority
