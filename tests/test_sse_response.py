"""labs.core.sse_response's stream generator: the options a lab may pass beyond manual_sse's.

``opening`` (a lab's own first block, as secure_stream's ``hello``) and ``seconds`` (the
stream ends on time, and the reader reconnects).  Driven directly: a real broker, the real
generator, no server in between; waits are bounded.
"""

from __future__ import annotations

import time

from labs.core.broker import Broker
from labs.core.event_log import MemoryEventLog, Message, Replay
from labs.core.sse import EventStreamDecoder
from labs.core.sse_response import StreamCounter, catch_up_blocks, event_stream, opening_block

OPENING = b": connected\nretry: 500\n\nevent: hello\ndata: {}\n\n"


def test_opening_replaces_the_first_block_and_live_messages_follow():
    broker, streams = Broker(queue_size=4), StreamCounter()
    stream = event_stream(broker, None, keepalive_seconds=5, retry_ms=500, streams=streams, opening=OPENING)
    assert next(stream) == OPENING
    assert broker.subscriber_count() == 1 and streams.count == 1
    sent = broker.publish_event("notify", {"message": "hi"})
    assert next(stream) == sent.wire == b'event: notify\nid: 1\ndata: {"message": "hi"}\n\n'
    stream.close()
    assert broker.subscriber_count() == 0 and streams.count == 0


def test_without_an_opening_the_stream_opens_as_before():
    broker = Broker()
    broker.publish("before")
    stream = event_stream(broker, None, keepalive_seconds=5, retry_ms=500, streams=StreamCounter())
    assert next(stream) == opening_block(500, 1)
    stream.close()


def test_seconds_ends_the_stream_on_time_with_keep_alives_meanwhile():
    broker, streams = Broker(), StreamCounter()
    started = time.monotonic()
    blocks = []
    for block in event_stream(broker, None, keepalive_seconds=0.1, retry_ms=500, streams=streams,
                              opening=OPENING, seconds=0.5):
        blocks.append(block)
        assert time.monotonic() - started < 3, "the stream did not end"  # keep-alives come every 0.1 s
    took = time.monotonic() - started
    assert 0.5 <= took < 3, took
    assert blocks[0] == OPENING and len(blocks) >= 3, blocks
    assert set(blocks[1:]) == {b": keep-alive\n\n"}
    assert broker.subscriber_count() == 0 and streams.count == 0


def test_a_stream_without_seconds_does_not_end_by_itself():
    broker = Broker()
    stream = event_stream(broker, None, keepalive_seconds=0.05, retry_ms=500, streams=StreamCounter())
    next(stream)
    assert [next(stream) for _ in range(10)] == [b": keep-alive\n\n"] * 10  # half a second, still open
    stream.close()


def test_a_returning_reader_gets_the_replay_after_the_lab_s_opening():
    broker = Broker(MemoryEventLog(history=2))
    for text in ("one", "two", "three"):
        broker.publish(text)
    stream = event_stream(broker, "0", keepalive_seconds=5, retry_ms=500, streams=StreamCounter(),
                          opening=OPENING)
    blocks = [next(stream) for _ in range(4)]
    stream.close()
    decoder = EventStreamDecoder()
    events = [event for block in blocks for event in decoder.feed(block)]
    assert [(event.type, event.id) for event in events] == [("hello", ""), ("gap", "1"), ("notify", "2"),
                                                           ("notify", "3")]
    assert events[1].json()["missed"] == 1


def test_catch_up_blocks_say_the_gap_before_the_messages():
    kept = [Message(5, {"message": "five"})]
    assert catch_up_blocks(Replay(kept, 5)) == [kept[0].wire]
    gap = {"reason": "too old", "missed": 4}
    assert catch_up_blocks(Replay(kept, 5, gap)) == [b'event: gap\nid: 4\ndata: {"reason": "too old", "missed": 4}\n\n',
                                                     kept[0].wire]
