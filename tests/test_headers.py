"""One ``Date`` header per response, on both servers a lab runs on.

The server writes ``Date`` (Werkzeug's development server and gunicorn both do, on every
response); Werkzeug's ``send_file``, behind a lab's page and ``/static/``, used to add a
second one, which the development server passed on and nginx warns about.  Read over a
raw HTTP connection (``http.client`` keeps repeated headers; ``requests`` would fold them).
"""

from __future__ import annotations

import http.client
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import pytest

SERVERS = {"development server": None, "gunicorn": 1}


LAB_NAME = "json_roundtrip"  # the lab the `lab` fixture starts for this module (tests/conftest.py)


@pytest.fixture(scope="module", params=list(SERVERS))
def lab_options(request):
    return {"workers": SERVERS[request.param]}


def fetch(lab, method: str, path: str, *, body: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    where = urlsplit(lab.url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.msg, response.read()
    finally:
        connection.close()


def assert_one_date(headers: http.client.HTTPMessage) -> None:
    dates = headers.get_all("Date") or []
    assert len(dates) == 1, f"expected one Date header, got {dates}"
    assert parsedate_to_datetime(dates[0]).tzinfo is not None, dates[0]


REQUESTS = {
    "page": ("GET", "/", None, 200, "text/html"),
    "static file": ("GET", "/static/common/lab.css", None, 200, "text/css"),
    "JSON endpoint": ("GET", "/health", None, 200, "application/json"),
    "JSON error": ("POST", "/echo", b"{not json", 400, "application/json"),
    "not found": ("GET", "/no/such/page", None, 404, "application/json"),
}


@pytest.mark.parametrize("what", list(REQUESTS))
def test_every_response_has_exactly_one_date_header(lab, what):
    method, path, body, status, content_type = REQUESTS[what]
    headers = {"Content-Type": "application/json"} if body else {}
    got, response_headers, _ = fetch(lab, method, path, body=body, headers=headers)
    assert got == status
    assert response_headers.get_content_type() == content_type
    assert_one_date(response_headers)


def test_a_not_modified_static_file_has_exactly_one_date_header(lab):
    _, first, _ = fetch(lab, "GET", "/static/common/lab.css")
    etag = first["ETag"]
    assert etag, "static files are served with an ETag"
    status, headers, body = fetch(lab, "GET", "/static/common/lab.css", headers={"If-None-Match": etag})
    assert (status, body) == (304, b"")
    assert_one_date(headers)
