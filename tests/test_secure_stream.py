"""The secure_stream lab: who may listen, and from which origin.

- no credential, a bad one, an expired, forged or reused ticket: a 401 JSON answer and no
  events; a token in the URL is refused unless the lab is told to allow it;
- the three ways (session cookie, one-time ticket, bearer token) each identify the user;
- a user never receives another user's events, and cannot ask for another's channel (403);
- a long-lived token in a URL lands in nginx's access log and lets whoever reads the log in;
  a spent ticket in the same log lets nobody in;
- secrets are kept as digests and compared with hmac.compare_digest;
- origins: a foreign Origin is refused (403 JSON), an allowed one gets the exact CORS
  headers and its preflight answered;
- in headless Chromium, from a page on another origin: the exact origin with credentials
  works (cookie EventSource, ticket, Bearer fetch, the login's preflight), ``*`` with
  credentials is refused by the browser although the server answered, an unknown origin
  gets nothing; on the lab's own page the three ways work, the HttpOnly cookie is out of
  the page's reach while the bearer token is not, and a ticket's EventSource cannot
  reconnect (its ticket is spent) while the cookie's does.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests

from labs import EventStream, start_proxy
from labs.core.sse import EventStreamDecoder
from labs.harness.launcher import LabServer
from labs.harness.processes import wait_until
from labs.harness.second_origin import serve_elsewhere
from labs.secure_stream import SESSION_COOKIE, create_app

LAB_NAME = "secure_stream"
ALICE = {"user": "alice", "password": "wonderland"}
BOB = {"user": "bob", "password": "builder"}
# Two more users for the channel test, whose streams no other test opens (a closed reader's
# stream stays counted until the server's next keep-alive write finds it gone).
CAROL = {"user": "carol", "password": secrets.token_urlsafe(8)}
DAVE = {"user": "dave", "password": secrets.token_urlsafe(8)}
USERS = {who["user"]: who["password"] for who in (ALICE, BOB, CAROL, DAVE)}


@pytest.fixture(scope="module")
def lab_options():
    return {"config": {"KEEPALIVE_SECONDS": 0.5, "USERS": USERS}}


def login(lab, who=ALICE) -> requests.Session:
    """A logged-in session: its cookie jar holds the session cookie, ``.token`` the bearer token."""
    session = requests.Session()
    answer = session.post(lab.url + "/login", json=who, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Cache-Control"] == "no-store"
    session.token = answer.json()["access_token"]
    return session


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ticket_for(lab, session) -> str:
    answer = requests.post(lab.url + "/stream-ticket", headers=bearer(session.token), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["ticket"]


def assert_refused(answer: requests.Response, status: int, error: str) -> None:
    assert answer.status_code == status, (answer.status_code, answer.text[:300])
    assert answer.headers["Content-Type"] == "application/json", answer.headers["Content-Type"]
    assert error in answer.json()["error"], answer.json()
    assert "event:" not in answer.text and "data:" not in answer.text, "no events"


def stream_get(lab, path: str, **kwargs) -> requests.Response:
    """GET a stream and read only its first block (a 401 is read whole)."""
    answer = requests.get(lab.url + path, stream=True, timeout=10, **kwargs)
    if answer.headers.get("Content-Type", "").startswith("text/event-stream"):
        answer.close()
    return answer


# --------------------------------------------------------------------------- who is asking

def test_no_credential_is_a_401_json_and_no_events(lab):
    assert_refused(stream_get(lab, "/stream"), 401, "not logged in")
    assert_refused(requests.get(lab.url + "/me", timeout=10), 401, "not logged in")
    assert_refused(requests.post(lab.url + "/stream-ticket", timeout=10), 401, "not logged in")
    assert_refused(requests.post(lab.url + "/send", json={"to": "bob", "message": "hi"}, timeout=10), 401,
                   "not logged in")


@pytest.mark.parametrize("header", ["Bearer nonsense", "Bearer " + "x" * 20 + "." + "y" * 43, "Basic YWxpY2U6eA==",
                                    "Bearer ", "bearer"])
def test_a_bad_or_malformed_bearer_token_is_a_401(lab, header):
    answer = stream_get(lab, "/stream", headers={"Authorization": header})
    assert answer.status_code == 401 and answer.headers["Content-Type"] == "application/json", answer.text
    assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'  # RFC 6750


def test_a_bad_bearer_token_is_not_rescued_by_a_good_cookie(lab):
    session = login(lab)
    assert session.get(lab.url + "/me", timeout=10).json() == {"user": "alice", "via": "session cookie"}
    assert_refused(session.get(lab.url + "/me", headers=bearer("made.up"), timeout=10), 401, "unknown token")


def test_a_ticket_works_once(lab):
    session = login(lab)
    ticket = ticket_for(lab, session)
    reader = EventStream(f"{lab.url}/stream?ticket={ticket}")
    assert reader.wait_for(1, type="hello")[0].json() == {"user": "alice", "via": "ticket"}
    reader.close()
    assert_refused(stream_get(lab, f"/stream?ticket={ticket}"), 401, "ticket already used")


def test_an_unknown_or_forged_ticket_is_a_401(lab):
    session = login(lab)
    ident = ticket_for(lab, session).split(".")[0]
    forged = f"{ident}.{secrets.token_urlsafe(32)}"  # a real id, a guessed secret
    assert_refused(stream_get(lab, f"/stream?ticket={forged}"), 401, "unknown ticket")
    assert_refused(stream_get(lab, f"/stream?ticket={secrets.token_urlsafe(40)}"), 401, "unknown ticket")
    assert_refused(stream_get(lab, "/stream?ticket="), 401, "unknown ticket")


def test_an_expired_ticket_is_a_401():
    app = create_app({"TICKET_SECONDS": 0.2, "TESTING": True})
    client = app.test_client()
    assert client.post("/login", json=ALICE).status_code == 200
    ticket = client.post("/stream-ticket").get_json()["ticket"]
    time.sleep(0.3)
    answer = client.get(f"/stream?ticket={ticket}")
    assert answer.status_code == 401 and answer.mimetype == "application/json"
    assert answer.get_json()["error"] == "ticket expired"


def test_a_token_in_the_url_is_refused_by_default(lab):
    session = login(lab)
    answer = stream_get(lab, f"/stream?access_token={session.token}")
    assert_refused(answer, 401, "no tokens in URLs")
    assert "access logs" in answer.json()["detail"]


def test_the_three_ways_each_say_who_you_are(lab):
    session = login(lab, BOB)
    cookie = {"Cookie": f"{SESSION_COOKIE}={session.cookies[SESSION_COOKIE]}"}
    ways = {"session cookie": "/stream", "ticket": f"/stream?ticket={ticket_for(lab, session)}",
            "bearer token": "/stream"}
    headers = {"session cookie": cookie, "ticket": {}, "bearer token": bearer(session.token)}
    for via, path in ways.items():
        reader = EventStream(lab.url + path, headers=headers[via])
        assert reader.wait_for(1, type="hello")[0].json() == {"user": "bob", "via": via}
        reader.close()


def test_logins_are_checked(lab):
    assert_refused(requests.post(lab.url + "/login", json={"user": "alice", "password": "nope"}, timeout=10), 401,
                   "wrong user name or password")
    assert_refused(requests.post(lab.url + "/login", json={"user": "mallory", "password": "x"}, timeout=10), 401,
                   "wrong user name or password")
    assert requests.post(lab.url + "/login", json={"user": "alice"}, timeout=10).status_code == 400
    assert requests.post(lab.url + "/login", data="user=alice", timeout=10).status_code == 415


def test_logout_revokes_the_session_and_the_token(lab):
    session = login(lab)
    token, sid = session.token, session.cookies[SESSION_COOKIE]
    assert session.post(lab.url + "/logout", headers=bearer(token), timeout=10).status_code == 200
    assert_refused(requests.get(lab.url + "/me", headers=bearer(token), timeout=10), 401, "unknown token")
    assert_refused(requests.get(lab.url + "/me", headers={"Cookie": f"{SESSION_COOKIE}={sid}"}, timeout=10), 401,
                   "unknown session")


# --------------------------------------------------------------------------- per-user channels

def test_a_user_never_receives_another_users_events(lab):
    carol, dave = login(lab, CAROL), login(lab, DAVE)
    carol_reader = EventStream(lab.url + "/stream", headers=bearer(carol.token))
    dave_reader = EventStream(lab.url + "/stream", headers=bearer(dave.token))
    for reader in (carol_reader, dave_reader):
        reader.wait_for(1, type="hello")
    to_dave = [f"for dave {uuid.uuid4().hex}" for _ in range(3)]
    to_carol = f"for carol {uuid.uuid4().hex}"
    for message in to_dave:
        answer = requests.post(lab.url + "/send", json={"to": "dave", "message": message},
                               headers=bearer(carol.token), timeout=10)
        assert answer.json() == {"status": "sent", "to": "dave", "streams": 1}
    requests.post(lab.url + "/send", json={"to": "carol", "message": to_carol}, headers=bearer(dave.token), timeout=10)
    assert [e.json() for e in dave_reader.wait_for(3, type="notify")] == [
        {"from": "carol", "message": m} for m in to_dave]
    assert [e.json() for e in carol_reader.wait_for(1, type="notify")] == [{"from": "dave", "message": to_carol}]
    time.sleep(0.3)  # anything misrouted would have arrived by now
    assert [e.json()["message"] for e in carol_reader.events if e.type == "notify"] == [to_carol]
    assert not any(message.encode() in carol_reader.raw for message in to_dave)
    assert to_carol.encode() not in dave_reader.raw
    carol_reader.close()
    dave_reader.close()


def test_asking_for_another_users_channel_is_a_403(lab):
    alice = login(lab)
    assert_refused(stream_get(lab, "/stream?user=bob", headers=bearer(alice.token)), 403, "not your channel")
    own = EventStream(lab.url + "/stream?user=alice", headers=bearer(alice.token))
    assert own.wait_for(1, type="hello")[0].json()["user"] == "alice"
    own.close()


def test_sending_to_nobody_is_a_404_and_a_bad_message_a_400(lab):
    alice = login(lab)
    answer = requests.post(lab.url + "/send", json={"to": "mallory", "message": "x"}, headers=bearer(alice.token),
                           timeout=10)
    assert answer.status_code == 404 and answer.json()["error"] == "no such user"
    answer = requests.post(lab.url + "/send", json={"to": "bob", "message": ""}, headers=bearer(alice.token),
                           timeout=10)
    assert answer.status_code == 400 and "empty" in answer.json()["error"]


def test_a_reader_too_far_behind_is_cut_off_and_catches_up_from_its_own_channel():
    """Each stream has a bounded queue (QUEUE_SIZE): a reader that stops reading is cut off, never
    making the sender wait or the server hold an ever-growing backlog; reconnecting with its
    Last-Event-ID it gets what it missed, from its own user's channel only."""
    client = create_app({"QUEUE_SIZE": 2, "KEEPALIVE_SECONDS": 5, "TESTING": True}).test_client()
    alice = bearer(client.post("/login", json=ALICE).get_json()["access_token"])
    bob = bearer(client.post("/login", json=BOB).get_json()["access_token"])
    stalled = client.get("/stream", headers=bob, buffered=False)
    body = iter(stalled.response)
    assert b"event: hello" in next(body)  # subscribed; from now on it reads nothing
    assert client.get("/stats").get_json()["streams"] == {"bob": 1}
    sent = [client.post("/send", json={"to": "bob", "message": f"m{i}"}, headers=alice).get_json()
            for i in range(3)]
    assert [answer["streams"] for answer in sent] == [1, 1, 1]
    client.post("/send", json={"to": "alice", "message": "not for bob"}, headers=bob)
    stats = client.get("/stats").get_json()
    assert stats["cut_slow"] == 1 and stats["streams"] == {}, stats
    assert list(body) == [], "a stream that was cut off ends"
    stalled.close()
    back = client.get("/stream", headers={**bob, "Last-Event-ID": "0"}, buffered=False)
    blocks = iter(back.response)
    caught_up = b"".join(next(blocks) for _ in range(4))  # hello, then the three it missed
    back.close()
    assert [e.json() for e in EventStreamDecoder().feed(caught_up) if e.type == "notify"] == [
        {"from": "alice", "message": f"m{i}"} for i in range(3)]
    assert b"not for bob" not in caught_up


def test_a_stream_ends_after_stream_seconds():
    client = create_app({"STREAM_SECONDS": 0.4, "KEEPALIVE_SECONDS": 0.1, "TESTING": True}).test_client()
    token = client.post("/login", json=ALICE).get_json()["access_token"]
    started = time.monotonic()
    answer = client.get("/stream", headers=bearer(token), buffered=False)
    blocks = []
    for block in answer.response:
        blocks.append(block)
        assert time.monotonic() - started < 5, "the stream did not end"
    answer.close()
    assert time.monotonic() - started >= 0.4
    assert blocks[0].startswith(b": connected\nretry: 2000\n\nevent: hello\n"), blocks[0]
    assert b": keep-alive\n\n" in blocks[1:]
    assert client.get("/stats").get_json()["clients"] == 0


# --------------------------------------------------------------------------- the access log

def wait_for_log(proxy, needle: str) -> list[str]:
    assert wait_until(lambda: any(needle in line for line in proxy.read_access_log()), 5), proxy.read_access_log()
    return [line for line in proxy.read_access_log() if needle in line]


def test_a_token_in_a_url_leaks_through_the_access_log_and_a_spent_ticket_does_not(lab_server):
    lab = lab_server(LAB_NAME, config={"TOKEN_IN_URL": True, "KEEPALIVE_SECONDS": 0.5})
    with start_proxy(lab) as proxy:
        alice = login(lab)
        reader = EventStream(f"{proxy.url}/stream?access_token={alice.token}")
        assert reader.wait_for(1, type="hello")[0].json()["via"] == "token in the URL"
        reader.close()
        ticket = ticket_for(lab, alice)
        reader = EventStream(f"{proxy.url}/stream?ticket={ticket}")
        reader.wait_for(1, type="hello")
        reader.close()

        # Whoever can read the log (an operator, a log shipper, a backup) now holds both.
        [token_line] = wait_for_log(proxy, "access_token=")
        leaked = token_line.split("access_token=")[1].split()[0]
        assert leaked == alice.token
        [ticket_line] = wait_for_log(proxy, "ticket=")
        spent = ticket_line.split("ticket=")[1].split()[0]
        assert spent == ticket
    # The token still opens Alice's stream for an hour; the ticket opens nothing.
    stolen = EventStream(lab.url + "/stream", headers=bearer(leaked))
    assert stolen.wait_for(1, type="hello")[0].json()["user"] == "alice"
    stolen.close()
    assert_refused(stream_get(lab, f"/stream?ticket={spent}"), 401, "ticket already used")


# --------------------------------------------------------------------------- secrets

def test_secrets_are_kept_as_digests_and_compared_in_constant_time(monkeypatch):
    import labs.secure_stream as module

    app = create_app({"TESTING": True})
    client = app.test_client()
    token = client.post("/login", json=ALICE).get_json()["access_token"]
    ticket = client.post("/stream-ticket", headers=bearer(token)).get_json()["ticket"]
    state = app.extensions["secure_stream"]
    kept = repr(state) + repr(vars(state.tokens)) + repr(vars(state.tickets)) + repr(vars(state.sessions))
    for secret in (token, ticket, token.split(".")[1], ticket.split(".")[1], "wonderland"):
        assert secret not in kept
    compared = []
    real = module.hmac.compare_digest
    monkeypatch.setattr(module.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or real(a, b))
    assert client.get("/me", headers=bearer(token)).status_code == 200
    assert client.post("/login", json={"user": "alice", "password": "guess"}).status_code == 401
    assert len(compared) == 2 and all(isinstance(a, bytes) and len(a) == len(b) == 32 for a, b in compared)


# --------------------------------------------------------------------------- origins, over HTTP

EVIL = "http://evil.example"


def test_a_foreign_origin_is_refused_even_with_a_good_cookie(lab):
    bob = login(lab, BOB)
    reader = EventStream(lab.url + "/stream", headers=bearer(bob.token))
    reader.wait_for(1, type="hello")
    alice = login(lab)
    forged = alice.post(lab.url + "/send", json={"to": "bob", "message": "forged"}, headers={"Origin": EVIL},
                        timeout=10)
    assert_refused(forged, 403, "origin not allowed")
    assert "Access-Control-Allow-Origin" not in forged.headers
    own = alice.post(lab.url + "/send", json={"to": "bob", "message": "mine"}, headers={"Origin": lab.url},
                     timeout=10)
    assert own.status_code == 200
    assert [e.json()["message"] for e in reader.wait_for(1, type="notify")] == ["mine"]
    reader.close()
    assert_refused(stream_get(lab, "/stream", headers={"Origin": EVIL, **bearer(alice.token)}), 403,
                   "origin not allowed")


PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,authorization"}


def test_cors_headers_name_the_exact_origin_and_answer_the_preflight():
    origin = "http://127.0.0.1:8001"
    client = create_app({"ALLOWED_ORIGINS": [origin], "TESTING": True}).test_client()
    preflight = client.options("/login", headers={"Origin": origin, **PREFLIGHT})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    assert set(preflight.headers["Access-Control-Allow-Methods"].split(", ")) >= {"POST"}
    allowed_headers = set(preflight.headers["Access-Control-Allow-Headers"].lower().split(", "))
    assert {"content-type", "authorization"} <= allowed_headers
    assert "Origin" in preflight.headers["Vary"]
    answer = client.post("/login", json=ALICE, headers={"Origin": origin})
    assert answer.status_code == 200 and answer.headers["Access-Control-Allow-Origin"] == origin
    refused = client.application.test_client().get("/me", headers={"Origin": origin})  # no cookie: a 401
    # ...which the page may read (its status and JSON), because it carries the CORS headers too.
    assert refused.status_code == 401 and refused.headers["Access-Control-Allow-Origin"] == origin
    other = client.options("/login", headers={"Origin": "http://127.0.0.1:8002", **PREFLIGHT})
    assert other.status_code == 403 and other.get_json()["error"] == "origin not allowed"
    assert "Access-Control-Allow-Origin" not in other.headers

    wildcard = create_app({"ALLOWED_ORIGINS": "*", "TESTING": True}).test_client()
    answer = wildcard.post("/login", json=ALICE, headers={"Origin": EVIL})
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert answer.headers["Access-Control-Allow-Credentials"] == "true"  # the combination browsers refuse


def test_allowed_origins_must_be_origins():
    for wrong in ("http://127.0.0.1:8001", ["127.0.0.1:8001"], [8001]):
        with pytest.raises(ValueError, match="ALLOWED_ORIGINS"):
            create_app({"ALLOWED_ORIGINS": wrong})


# --------------------------------------------------------------------------- the second origin (harness)

def test_the_second_origin_serves_its_page_and_scripts_and_nothing_else():
    with serve_elsewhere() as origin:
        assert origin.startswith("http://127.0.0.1:")
        page = requests.get(origin + "/?api=http://127.0.0.1:5000", timeout=10)
        assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "secure_stream: another origin" in page.text
        for script in ("static/secure_stream/listen.js", "static/secure_stream/elsewhere.js"):
            assert script in page.text
            answer = requests.get(f"{origin}/{script}", timeout=10)
            assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/javascript")
        for path in ("/static/secure_stream/index.html", "/static/../labs/secure_stream.py", "/login"):
            answer = requests.get(origin + path, timeout=10)
            assert answer.status_code == 404 and answer.json() == {"error": "not found"}, path
    with pytest.raises(requests.ConnectionError):
        requests.get(origin + "/", timeout=5)


def test_the_second_origin_command_serves_the_page_until_ctrl_c():
    command = [sys.executable, "-m", "labs", "second-origin", "--api", "http://127.0.0.1:5000", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = process.stdout.readline()
        assert first.startswith("second origin: serving on http://127.0.0.1:"), first
        origin = first.split()[-1]
        assert process.stdout.readline().strip() == f"open {origin}/?api=http://127.0.0.1:5000"
        assert f"ALLOWED_ORIGINS={json.dumps([origin])}" in process.stdout.readline()
        assert "another origin" in requests.get(origin + "/", timeout=10).text
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    refused = subprocess.run([*command[:4], "--api", "127.0.0.1:5000"], capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and "--api takes the lab's URL" in refused.stderr, refused.stderr


# --------------------------------------------------------------------------- in Chromium: two origins

@pytest.fixture(scope="module")
def elsewhere():
    with serve_elsewhere() as origin:
        yield origin


@pytest.fixture(scope="module")
def stranger():
    """A second other origin, which no lab allows."""
    with serve_elsewhere() as origin:
        yield origin


@pytest.fixture(scope="module")
def cors_labs(elsewhere):
    """Two labs, started side by side: one allows the other origin exactly, one allows "*"."""
    configs = {"exact": [elsewhere], "wildcard": "*"}
    labs = {name: LabServer(LAB_NAME, config={"ALLOWED_ORIGINS": allowed, "KEEPALIVE_SECONDS": 0.5})
            for name, allowed in configs.items()}
    starting = [threading.Thread(target=server.start) for server in labs.values()]
    try:
        for thread in starting:
            thread.start()
        for thread in starting:
            thread.join()
        assert all(server.url for server in labs.values()), "a lab did not start"
        yield labs
    finally:
        for server in labs.values():
            server.stop()


def open_elsewhere(new_page, elsewhere, lab):
    tab = new_page()
    tab.goto(f"{elsewhere}/?api={lab.url}")
    tab.wait_for_function("() => window.elsewhere !== undefined")
    return tab


def counts(lab) -> dict:
    return lab.get("/stats").json()["counts"]


@pytest.mark.browser
def test_the_exact_origin_with_credentials_works(new_page, elsewhere, cors_labs):
    lab = cors_labs["exact"]
    before = counts(lab).get("preflights", 0)
    tab = open_elsewhere(new_page, elsewhere, lab)
    assert tab.evaluate("() => elsewhere.login()")["user"] == "alice"  # POST with JSON: preflighted
    cookie = tab.evaluate("() => elsewhere.withCookie()")                  # EventSource withCredentials
    assert cookie["hello"] == {"user": "alice", "via": "session cookie"}, cookie
    ticket = tab.evaluate("() => elsewhere.withTicket()")
    assert ticket["hello"] == {"user": "alice", "via": "ticket"}, ticket
    fetched = tab.evaluate("() => elsewhere.withBearer()")
    assert fetched["hello"] == {"user": "alice", "via": "bearer token"}, fetched
    # The login, the ticket and the Bearer stream each needed a preflight (JSON, Authorization).
    assert counts(lab)["preflights"] - before >= 3
    # And the streams deliver across origins.
    alice = login(lab)
    message = f"across origins {uuid.uuid4().hex}"
    assert requests.post(lab.url + "/send", json={"to": "alice", "message": message}, headers=bearer(alice.token),
                         timeout=10).json()["streams"] == 3
    tab.wait_for_function("(m) => elsewhere.messages().flat().filter((x) => x.message === m).length === 3", arg=message)


@pytest.mark.browser
def test_a_wildcard_with_credentials_is_refused_by_the_browser(new_page, elsewhere, cors_labs):
    lab = cors_labs["wildcard"]
    tab = open_elsewhere(new_page, elsewhere, lab)
    # Log in on the lab's own page first (same origin), so the browser holds Alice's cookie.
    own = tab.context.new_page()
    own.goto(lab.url + "/")
    own.evaluate("() => window.securePage.login()")
    assert any(c["name"] == SESSION_COOKIE for c in tab.context.cookies())
    streamed = counts(lab).get("streams via session cookie", 0)
    cookie = tab.evaluate("() => elsewhere.withCookie()")
    assert cookie["hello"] is None and cookie["error"], cookie
    # The server did answer (and streamed to nobody): CORS is the browser keeping the answer from the page.
    assert counts(lab)["streams via session cookie"] == streamed + 1
    assert tab.evaluate("() => elsewhere.login()")["error"].startswith("fetch failed")  # credentials: include
    token = login(lab).token
    tab.evaluate("(t) => elsewhere.setToken(t)", token)
    # Without credentials a wildcard is fine: the ticket (asked for with the bearer token) and fetch + Bearer work.
    assert tab.evaluate("() => elsewhere.withTicket()")["hello"] == {"user": "alice", "via": "ticket"}
    assert tab.evaluate("() => elsewhere.withBearer()")["hello"] == {"user": "alice", "via": "bearer token"}


@pytest.mark.browser
def test_an_origin_not_allowed_gets_nothing(new_page, stranger, cors_labs):
    lab = cors_labs["exact"]  # allows `elsewhere`, not `stranger`
    before = counts(lab).get("refused origins", 0)
    tab = open_elsewhere(new_page, stranger, lab)
    assert not tab.evaluate("() => elsewhere.login()")["ok"]
    tab.evaluate("(t) => elsewhere.setToken(t)", login(lab).token)
    for way in ("withCookie", "withTicket", "withBearer"):
        result = tab.evaluate(f"() => elsewhere.{way}()")
        assert result["hello"] is None and result["error"], (way, result)
    assert counts(lab)["refused origins"] - before >= 4


# --------------------------------------------------------------------------- in Chromium: the lab's own page

@pytest.mark.browser
def test_the_page_listens_three_ways_and_keeps_users_apart(lab, new_page):
    tabs = {}
    for who in (ALICE, BOB):
        tab = new_page()
        tab.goto(lab.url + "/")
        tab.select_option("#user", who["user"])
        tab.click("#login")
        tab.wait_for_function("(u) => document.querySelector('#who').textContent === 'logged in as ' + u",
                              arg=who["user"])
        tabs[who["user"]] = tab
    for way, via in (("cookie", "session cookie"), ("ticket", "ticket"), ("bearer", "bearer token")):
        for user, tab in tabs.items():
            tab.click(f"#listen-{way}")
            tab.wait_for_function("(text) => document.querySelector('#listening').textContent === text",
                                  arg=f"listening as {user}, via {via}")
        message = f"<b>{way}</b> {uuid.uuid4().hex}"
        tabs["alice"].select_option("#to", "bob")
        tabs["alice"].fill("#message", message)
        tabs["alice"].click("#send")
        tabs["bob"].wait_for_function("(m) => document.querySelector('#messages').textContent.includes(m)",
                                      arg=message)
        assert tabs["bob"].locator("#messages b").count() == 0, "a message is text, never markup"
        time.sleep(0.2)
        assert message not in tabs["alice"].inner_text("#messages")
    # The session cookie is HttpOnly: no script on the page can read it.  The bearer token can be read.
    page = tabs["alice"]
    assert SESSION_COOKIE not in page.evaluate("() => document.cookie")
    assert page.evaluate("() => sessionStorage.getItem('secure-stream-token')") == page.evaluate(
        "() => window.securePage.token()") != ""


@pytest.mark.browser
def test_a_tickets_eventsource_cannot_reconnect_but_a_cookies_can(lab_server, new_page):
    lab = lab_server(LAB_NAME, config={"STREAM_SECONDS": 1, "KEEPALIVE_SECONDS": 0.3, "RETRY_MS": 200})
    tab = new_page()
    tab.goto(lab.url + "/")
    tab.click("#login")
    tab.wait_for_function("() => document.querySelector('#who').textContent === 'logged in as alice'")
    tab.evaluate("() => SecureListen.withCookie('', null)")
    tab.evaluate("() => SecureListen.withTicket('', window.securePage.token(), null)")
    # Each stream ends after 1 s; EventSource reconnects with the same URL and credentials.
    tab.wait_for_function("() => SecureListen.streams[0].hellos >= 2 && SecureListen.streams[1].ended",
                          timeout=10_000)
    cookie, ticket = tab.evaluate("() => SecureListen.streams.map((s) => ({hellos: s.hellos, error: s.error}))")
    assert cookie["hellos"] >= 2 and cookie["error"] is None
    assert ticket["hellos"] == 1 and "reconnect was refused" in ticket["error"]
    assert counts(lab)["streams via ticket"] == 1
