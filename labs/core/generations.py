"""Resumable generations: an answer generated apart from any connection, kept in a Redis Stream.

**Disconnect is not stop.**  ``POST /generate`` (lab ``token_stream``) ties the answer to one
connection: a dropped connection, a reload or a node restart loses the answer (and the
generator stops, so nobody pays for tokens nobody reads).  Here a generation runs on its
own, in a background thread (a greenlet under gunicorn + gevent) of the process that got
the ``POST``, and writes every event into Redis; readers on *any* node read Redis, never
the generating process:

- ``<key>:<id>``         a hash: ``state`` (running, done, stopped, error), ``tokens``, ``stop``, ``error``;
- ``<key>:<id>:text``    the text so far (``APPEND``);
- ``<key>:<id>:events``  a Redis Stream, one entry per token and one last entry (done, stopped
                         or error).  Its entry ids are chosen here: token *n* is entry ``n-0``,
                         so a reader that last saw event id *n* reads on with ``XREAD`` from
                         ``n-0``, without looking anything up.  Event ids are token indexes
                         (1, 2, 3, ...), never Redis' clock-based ids;
- ``<key>:<id>:alive``   the generator's heartbeat: a key with a TTL of
                         ``GENERATION_HEARTBEAT_SECONDS`` that the generator refreshes.

Every change is one Lua script, so it is atomic: a token is appended only while the state
is ``running`` (a generator that was declared dead cannot write any more), and a reader
that finds the heartbeat gone while the state is ``running`` turns it into ``error``
with a last ``error`` entry, in the same step that checks the heartbeat.

Bounds, all named settings (the app's config): the keys expire ``GENERATION_TTL_SECONDS``
after the last write (default one hour); each stream is capped at ``GENERATION_MAX_EVENTS``
entries (``XADD MAXLEN``; ``max_tokens`` may be at most one less, so nothing is ever
trimmed from a generation's own stream); at most ``GENERATION_MAX_RUNNING`` generations run
in one process (more get a 429).  Redis 6.2 commands only.

**Handing a generation over** (not done here): when the generating node dies its
generation ends in ``error``.  To continue it elsewhere a node would need to claim it (a
lease: ``SET <id>:alive <node> NX PX ...`` once the old heartbeat expired), the model's
state to go on from (for a real model: the prompt plus the text so far, re-read as a new
prompt, which costs a prefill, or a KV cache shared between nodes), and a generator that
can start from token *n*; the fencing is already here: the old generator's writes are
refused once the state is no longer its own.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from labs.core.sse import encode_event

GENERATION_TTL_SECONDS = 3600        # a generation's keys live this long after its last write
GENERATION_MAX_EVENTS = 1000         # a generation's stream keeps at most this many entries
GENERATION_HEARTBEAT_SECONDS = 2.0   # the generator's heartbeat key lives this long unless refreshed
GENERATION_MAX_RUNNING = 200         # generations one process runs at once (more: 429)
GENERATION_KEEPALIVE_SECONDS = 15.0  # a comment to an idle reader this often
GENERATION_RETRY_MS = 1000           # the retry: readers are given (EventSource reconnects after it)
REDIS_CONNECTIONS = 512              # every waiting reader holds one (XREAD BLOCK), every generator one briefly
REDIS_POOL_WAIT_SECONDS = 10.0
STOP_WAIT_SECONDS = 2.0              # how long POST stop waits for the generator to confirm
DONE = "[DONE]"
STATES = ("running", "done", "stopped", "error")
GENERATOR_GONE = "the node generating this answer stopped (its heartbeat expired)"

log = logging.getLogger("labs.generations")

# One Lua function, shared by the scripts: end a running generation with a last stream entry.
_FINISH = """
local function finish(state, error, detail, ttl, maxlen)
  local n = tonumber(redis.call('HGET', KEYS[1], 'tokens') or '0')
  redis.call('HSET', KEYS[1], 'state', state)
  if error ~= '' then redis.call('HSET', KEYS[1], 'error', error, 'detail', detail) end
  redis.call('XADD', KEYS[3], 'MAXLEN', maxlen, (n + 1) .. '-0', 'kind', state, 'error', error, 'detail', detail,
             'tokens', n)
  for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ttl) end
  redis.call('DEL', KEYS[4])
end
"""
# KEYS: hash, text, events, alive.  ARGV: node, heartbeat ms, ttl, max_tokens, created.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'state', 'running', 'tokens', 0, 'node', ARGV[1], 'max_tokens', ARGV[4],
           'created', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SET', KEYS[4], ARGV[1], 'PX', ARGV[2])
return 1
"""
# ARGV: token, heartbeat ms, ttl, maxlen.  Returns the token's index, -1 (not running), -2 (stopped now).
_APPEND = _FINISH + """
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return -1 end
if redis.call('HEXISTS', KEYS[1], 'stop') == 1 then finish('stopped', '', '', ARGV[3], ARGV[4]) return -2 end
local n = redis.call('HINCRBY', KEYS[1], 'tokens', 1)
redis.call('APPEND', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[4], n .. '-0', 'kind', 'token', 'token', ARGV[1])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
redis.call('SET', KEYS[4], '1', 'PX', ARGV[2])
return n
"""
# ARGV: heartbeat ms, ttl, maxlen.  While the generator "thinks": 1 go on, -1 not running, -2 stopped now.
_TICK = _FINISH + """
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return -1 end
if redis.call('HEXISTS', KEYS[1], 'stop') == 1 then finish('stopped', '', '', ARGV[2], ARGV[3]) return -2 end
redis.call('SET', KEYS[4], '1', 'PX', ARGV[1])
return 1
"""
# ARGV: state, error, detail, ttl, maxlen, "dead" (1: only if the heartbeat is gone).  1 if it ended it.
_END = _FINISH + """
if redis.call('HGET', KEYS[1], 'state') ~= 'running' then return 0 end
if ARGV[6] == '1' and redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
finish(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return 1
"""
# -1 unknown, 0 not running (nothing to stop), 1 asked to stop.
_STOP = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return -1 end
if state ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'stop', '1')
return 1
"""


@dataclasses.dataclass
class Counters:
    """What this process did (``/stats``): generations it runs, tokens it generated, readers it serves."""

    running: int = 0
    started: int = 0
    tokens_generated: int = 0
    readers: int = 0
    outcomes: dict[str, int] = dataclasses.field(
        default_factory=lambda: {"done": 0, "stopped": 0, "error": 0, "ended elsewhere": 0})
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def add(self, name: str, delta: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + delta)

    def outcome(self, name: str) -> None:
        with self.lock:
            self.outcomes[name] += 1

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            return {"running": self.running, "started": self.started, "tokens_generated": self.tokens_generated,
                    "readers": self.readers, "outcomes": dict(self.outcomes)}


class GenerationStore:
    """Generations in Redis at ``url`` under ``key``; see the module's doc.  One per app."""

    def __init__(self, url: str, key: str, *, ttl: int = GENERATION_TTL_SECONDS,
                 max_events: int = GENERATION_MAX_EVENTS, heartbeat: float = GENERATION_HEARTBEAT_SECONDS,
                 max_running: int = GENERATION_MAX_RUNNING, keepalive: float = GENERATION_KEEPALIVE_SECONDS,
                 retry_ms: int = GENERATION_RETRY_MS) -> None:
        import redis  # only a lab with Redis pays for the import
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.key, self.ttl, self.max_events, self.heartbeat = key, int(ttl), int(max_events), float(heartbeat)
        self.max_running, self.keepalive, self.retry_ms = int(max_running), float(keepalive), int(retry_ms)
        if self.ttl < 1 or self.max_events < 2 or self.heartbeat <= 0:
            raise ValueError("need GENERATION_TTL_SECONDS >= 1, GENERATION_MAX_EVENTS >= 2 "
                             "and GENERATION_HEARTBEAT_SECONDS > 0")
        # Readers wait in XREAD BLOCK for at most this long, then look at the heartbeat.
        self.block_ms = max(50, min(1000, int(self.heartbeat * 500)))
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=REDIS_CONNECTIONS, timeout=REDIS_POOL_WAIT_SECONDS, decode_responses=True,
            socket_timeout=10, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0))
        self.redis = redis.Redis(connection_pool=pool)
        self.node = secrets.token_hex(4)  # who generates: written into the hash
        self.counters = Counters()
        self._create, self._append = self.redis.register_script(_CREATE), self.redis.register_script(_APPEND)
        self._tick, self._end = self.redis.register_script(_TICK), self.redis.register_script(_END)
        self._stop = self.redis.register_script(_STOP)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> GenerationStore | None:
        """The store for an app's config, or None without ``REDIS_URL``."""
        if not config.get("REDIS_URL"):
            return None
        return cls(config["REDIS_URL"], config.get("REDIS_KEY", "sse-kit:token_stream") + ":generations",
                   ttl=config.get("GENERATION_TTL_SECONDS", GENERATION_TTL_SECONDS),
                   max_events=config.get("GENERATION_MAX_EVENTS", GENERATION_MAX_EVENTS),
                   heartbeat=config.get("GENERATION_HEARTBEAT_SECONDS", GENERATION_HEARTBEAT_SECONDS),
                   max_running=config.get("GENERATION_MAX_RUNNING", GENERATION_MAX_RUNNING),
                   keepalive=config.get("GENERATION_KEEPALIVE_SECONDS", GENERATION_KEEPALIVE_SECONDS),
                   retry_ms=config.get("GENERATION_RETRY_MS", GENERATION_RETRY_MS))

    def keys(self, gen_id: str) -> list[str]:
        base = f"{self.key}:{gen_id}"
        return [base, base + ":text", base + ":events", base + ":alive"]

    # ------------------------------------------------------------------ generating
    def start(self, tokens: Iterable[str], interval: float, max_tokens: int,
              expected_errors: tuple[type[BaseException], ...] = ()) -> str:
        """Start a generation of ``tokens`` (one every ``interval`` s) in a background thread; its id.

        An exception of ``expected_errors`` from ``tokens`` ends it with ``error`` and the
        exception's text; any other with ``error`` and a pointer to the server's log.
        """
        gen_id = secrets.token_urlsafe(12)  # unguessable: whoever holds the id may read and stop it
        keys = self.keys(gen_id)
        with self.counters.lock:
            if self.counters.running >= self.max_running:
                raise OverflowError(f"{self.counters.running} generations are running in this process "
                                    f"(GENERATION_MAX_RUNNING is {self.max_running})")
            self.counters.running += 1
            self.counters.started += 1
        try:
            self._create(keys=keys, args=[self.node, self._heartbeat_ms(), self.ttl, max_tokens, time.time()])
        except BaseException:
            self.counters.add("running", -1)
            raise
        threading.Thread(target=self._run, args=(gen_id, tokens, interval, expected_errors), daemon=True,
                         name=f"generation {gen_id}").start()
        return gen_id

    def _heartbeat_ms(self) -> int:
        return max(1, int(self.heartbeat * 1000))

    def _run(self, gen_id: str, tokens: Iterable[str], interval: float, expected: tuple) -> None:
        keys, outcome = self.keys(gen_id), "error"
        try:
            outcome = self._generate(keys, tokens, interval)
        except Exception as exc:  # the model (or Redis) failed: say so in the stream, if Redis still answers
            detail = str(exc) if isinstance(exc, expected) else "see the lab server's log"
            if not isinstance(exc, expected):
                log.exception("generation %s failed", gen_id)
            try:
                self._end(keys=keys, args=["error", "model failed", detail, self.ttl, self.max_events, 0])
            except Exception:  # Redis is gone too: its readers cannot read either
                log.warning("generation %s: could not record its error", gen_id)
        finally:
            self.counters.add("running", -1)
            self.counters.outcome(outcome)

    def _generate(self, keys: list[str], tokens: Iterable[str], interval: float) -> str:
        for token in tokens:
            ticked = self._think(keys, interval)
            if ticked < 0:
                return "stopped" if ticked == -2 else "ended elsewhere"
            index = self._append(keys=keys, args=[token, self._heartbeat_ms(), self.ttl, self.max_events])
            if index < 0:
                return "stopped" if index == -2 else "ended elsewhere"
            self.counters.add("tokens_generated")
        ended = self._end(keys=keys, args=["done", "", "", self.ttl, self.max_events, 0])
        return "done" if ended else "ended elsewhere"

    def _think(self, keys: list[str], interval: float) -> int:
        """Wait ``interval`` s (the model at work), refreshing the heartbeat and looking for a stop."""
        deadline = time.monotonic() + interval
        step = min(0.25, self.heartbeat / 4)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return 1
            time.sleep(min(step, left))
            if time.monotonic() < deadline:  # the last slice ends in the append, which does the same
                ticked = self._tick(keys=keys, args=[self._heartbeat_ms(), self.ttl, self.max_events])
                if ticked < 0:
                    return ticked

    # ------------------------------------------------------------------ asking and stopping
    def status(self, gen_id: str) -> dict[str, Any] | None:
        """``{"id", "state", "text", "tokens"}`` (and ``error``/``detail`` when failed), or None if unknown."""
        self.check_alive(gen_id)
        keys = self.keys(gen_id)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(keys[0])
            pipe.get(keys[1])
            fields, text = pipe.execute()
        if not fields:
            return None
        answer = {"id": gen_id, "state": fields["state"], "text": text or "", "tokens": int(fields["tokens"])}
        if fields.get("error"):
            answer.update(error=fields["error"], detail=fields.get("detail", ""))
        return answer

    def check_alive(self, gen_id: str) -> bool:
        """End a running generation whose heartbeat expired with ``error``; True if this call did."""
        return bool(self._end(keys=self.keys(gen_id), args=["error", "generator gone", GENERATOR_GONE,
                                                              self.ttl, self.max_events, 1]))

    def stop(self, gen_id: str) -> dict[str, Any] | None:
        """Ask a running generation to stop and wait (at most ``STOP_WAIT_SECONDS``) until it has."""
        if self._stop(keys=self.keys(gen_id)) == -1:
            return None
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while True:
            answer = self.status(gen_id)
            if answer is None or answer["state"] != "running" or time.monotonic() > deadline:
                return answer
            time.sleep(0.02)

    # ------------------------------------------------------------------ reading
    def events(self, gen_id: str, after: int, gone: Callable[[], bool] = lambda: False) -> Iterator[str]:
        """The event stream of a generation, from token ``after + 1`` on, then live; see the lab's doc.

        ``gone()`` says the reader has left (checked after every wait); the stream ends then.
        """
        import redis

        self.counters.add("readers")
        try:
            yield encode_event(comment="generation " + gen_id, retry=self.retry_ms)
            yield from self._follow(gen_id, after, gone)
        except redis.RedisError:
            log.warning("a generation reader lost Redis")
            yield error_event("Redis is down", "the answer is kept while Redis keeps it; reconnect later")
        finally:
            self.counters.add("readers", -1)

    def _follow(self, gen_id: str, after: int, gone: Callable[[], bool]) -> Iterator[str]:
        events_key, cursor, quiet_since = self.keys(gen_id)[2], f"{after}-0", time.monotonic()
        while not gone():
            batch = self.redis.xread({events_key: cursor}, count=100, block=self.block_ms)
            entries = batch[0][1] if batch else []
            for entry_id, fields in entries:
                index = int(entry_id.split("-")[0])
                if fields["kind"] != "token":
                    yield from ending_events(fields)
                    return
                if index != int(cursor.split("-")[0]) + 1:  # only if GENERATION_MAX_EVENTS trimmed it
                    yield error_event("events expired", f"the events after {cursor.split('-')[0]} are no longer kept")
                    return
                cursor = entry_id
                yield encode_event(json.dumps({"token": fields["token"]}, ensure_ascii=False), id=index)
            if entries:
                quiet_since = time.monotonic()
                continue
            self.check_alive(gen_id)  # the generator may have died: then its error entry comes next
            fields = self.redis.hgetall(self.keys(gen_id)[0])
            if not fields:
                yield error_event("generation expired", f"it is no longer kept (GENERATION_TTL_SECONDS {self.ttl})")
                return
            if fields["state"] != "running" and int(cursor.split("-")[0]) > int(fields["tokens"]):
                # The reader's id is past every token of an ended generation: only its end is left.
                yield from ending_events({"kind": fields["state"], "error": fields.get("error", ""),
                                          "detail": fields.get("detail", ""), "tokens": fields["tokens"]})
                return
            if time.monotonic() - quiet_since >= self.keepalive:
                quiet_since = time.monotonic()
                yield encode_event(comment="keep-alive")

    def close(self) -> None:
        self.redis.connection_pool.disconnect()


def ending_events(fields: dict[str, str]) -> Iterator[str]:
    """The last events of a stream, from the last entry: ``[DONE]``; ``stopped`` + ``[DONE]``; ``error``."""
    kind = fields["kind"]
    if kind == "done":
        yield encode_event(DONE)
    elif kind == "stopped":
        yield encode_event(json.dumps({"tokens": int(fields.get("tokens", 0))}), event="stopped")
        yield encode_event(DONE)
    else:
        yield error_event(fields.get("error") or "error", fields.get("detail", ""))


def error_event(error: str, detail: str) -> str:
    return encode_event(json.dumps({"error": error, "detail": detail}, ensure_ascii=False), event="error")


def parse_last_event_id(header: str | None, query: str | None) -> int:
    """The token index a reader last saw: the ``Last-Event-ID`` header (an EventSource that
    reconnects sends it), else ``?lastEventId=`` (a page that reloads), else 0.

    Raises ValueError for anything but a whole number of at most 9 digits.
    """
    raw = header if header else query
    if not raw:
        return 0
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise ValueError(f"got {raw[:40]!r}; send the id of the last token read (1, 2, 3, ...) or nothing")
    return int(raw)
