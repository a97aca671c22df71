"""Exercise 10.1's upstream: a real manual_sse lab under gunicorn, behind a TCP relay in the
check's process that counts the connections nginx opens to it and notes how each was first used."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from labs.exercises.nb10.timing import Lab


class CountingRelay:
    """A TCP relay in front of the lab that counts the connections made through it (how many
    connections nginx opened to the lab), and notes how the first request on each one was sent:
    its HTTP version and its ``Connection`` header (``firsts``)."""

    def __init__(self) -> None:
        self.target: tuple[str, int] | None = None  # the lab's address, once it is up
        self.opened = 0
        self.firsts: list[tuple[str, str]] = []  # (HTTP version, Connection header or "") per connection
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            self.opened += 1
            threading.Thread(target=self._join, args=(client,), daemon=True).start()

    def _join(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.target, timeout=5)
        except (OSError, TypeError):  # TypeError: no lab yet
            client.close()
            return
        server.settimeout(None)
        try:
            first = client.recv(65536)
            server.sendall(first)
        except OSError:
            first = b""
        self.firsts.append(how_sent(first))
        back = threading.Thread(target=pump, args=(server, client), daemon=True)
        back.start()
        pump(client, server)
        back.join()
        client.close()
        server.close()

    def close(self) -> None:
        self._listener.close()


def how_sent(head: bytes) -> tuple[str, str]:
    """(HTTP version, Connection header) of the request whose start is ``head``."""
    lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    version = lines[0].rsplit(" ", 1)[-1] if lines[0].count(" ") >= 2 else "?"
    connection = next((line.split(":", 1)[1].strip() for line in lines[1:]
                       if line.lower().startswith("connection:")), "")
    return version, connection


def pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)  # pass the end on
        except OSError:
            pass


@contextmanager
def gunicorn_lab(config: dict, relay: CountingRelay) -> Iterator[Lab]:
    """manual_sse under gunicorn (gevent), as in production: unlike the development server,
    it keeps idle connections open for a next request.  ``relay`` (in front) counts them."""
    from labs.harness.launcher import start_lab

    with start_lab("manual_sse", config=config, workers=1) as lab:
        host, port = lab.url.split("//")[1].rsplit(":", 1)
        relay.target = (host, int(port))
        yield Lab(relay.url, lab.url)


