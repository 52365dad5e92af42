"""A producer and a consumer group on a Kafka-protocol broker, driven line by line on stdin.

Used by tests/tests/kafka_admin_rules.rs. The producer writes `RATE` records per second, each
in its own batch (tansu's high watermark counts batches, docs/test-peers.md: one record per
batch keeps broker-side lag right). The consumer (group GROUP, client id CLIENT) commits each
record it reads, synchronously. Commands, each answered with `ok <command> <details>` once
done:

  normal            read and commit everything (catch up)
  pause             stop reading (stays in the group: poll keeps it alive)
  slow N            read and commit one record every N seconds
  rewind N          commit offset N (earlier) and seek there; the mode is kept
  committed         print the committed offset
  close             leave the group (the group is empty, offsets kept)
  delete            delete the group (AdminClient), after close
  quit
"""

import sys
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

BROKERS, TOPIC, GROUP, CLIENT, RATE = sys.argv[1:6]
RATE = float(RATE)

stop = threading.Event()
lock = threading.Lock()
mode = {"name": "normal", "every": 0.0}


def say(text):
    print(text, flush=True)


def produce():
    producer = Producer(
        {
            "bootstrap.servers": BROKERS,
            "client.id": "driver-producer",
            "linger.ms": 0,
            "batch.num.messages": 1,
        }
    )
    n = 0
    while not stop.is_set():
        producer.produce(TOPIC, value=b"record-%d" % n, partition=0)
        producer.flush(5)
        n += 1
        time.sleep(1.0 / RATE)
    producer.flush(5)


consumer = Consumer(
    {
        "bootstrap.servers": BROKERS,
        "group.id": GROUP,
        "client.id": CLIENT,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
    }
)
consumer.subscribe([TOPIC])
closed = threading.Event()


def consume():
    last = 0.0
    while not stop.is_set() and not closed.is_set():
        with lock:
            name, every = mode["name"], mode["every"]
            if name == "pause":
                assigned = consumer.assignment()
                if assigned:
                    consumer.pause(assigned)
                # Polling a paused consumer keeps it in the group and returns no records.
                consumer.poll(0.2)
                continue
            # Slow: librdkafka heartbeats on its own thread, so a few seconds without a poll
            # keep the member (max.poll.interval.ms is 300 s).
            if name != "slow" or time.time() - last >= every:
                msg = consumer.poll(0.2)
                if msg is not None and msg.error() is None:
                    consumer.commit(message=msg, asynchronous=False)
                    last = time.time()
                continue
        time.sleep(0.05)


def resume():
    assigned = consumer.assignment()
    if assigned:
        consumer.resume(assigned)


threading.Thread(target=produce, daemon=True).start()
worker = threading.Thread(target=consume, daemon=True)
worker.start()
say("ready")

for line in sys.stdin:
    words = line.split()
    if not words:
        continue
    cmd = words[0]
    if cmd == "quit":
        break
    if cmd in ("normal", "pause", "slow"):
        with lock:
            if cmd != "pause":
                resume()
            mode["name"] = cmd
            mode["every"] = float(words[1]) if cmd == "slow" else 0.0
        say("ok " + cmd)
    elif cmd == "rewind":
        with lock:
            target = int(words[1])
            tp = TopicPartition(TOPIC, 0, target)
            consumer.commit(offsets=[tp], asynchronous=False)
            # The position follows, so reading on re-reads from there; the mode is kept (a
            # paused consumer stays paused, so the earlier offset stays committed a while).
            consumer.seek(tp)
        say("ok rewind %d" % target)
    elif cmd == "committed":
        with lock:
            got = consumer.committed([TopicPartition(TOPIC, 0)], timeout=5)
        say("ok committed %d" % got[0].offset)
    elif cmd == "close":
        closed.set()
        worker.join(5)
        with lock:
            consumer.close()
        say("ok close")
    elif cmd == "delete":
        admin = AdminClient({"bootstrap.servers": BROKERS})
        futures = admin.delete_consumer_groups([GROUP], request_timeout=10)
        try:
            futures[GROUP].result(10)
            say("ok delete")
        except Exception as e:  # the broker's answer, for the test to show
            say("ok delete failed %s" % e)
    else:
        say("error unknown command " + cmd)

stop.set()
