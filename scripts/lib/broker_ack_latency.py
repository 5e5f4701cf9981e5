"""How long a broker takes to acknowledge a batch of records, seen by a plain
confluent-kafka producer (idempotent, linger.ms 5, as Breakwater's producer): a diagnostic
for the worker's waits at its in-flight bound, not a test.

Creates TOPIC (6 partitions) unless it exists, then sends ROUNDS batches of 1,000 records
of 1,500 bytes, one after the other, and prints the time from each batch's first record to
its last acknowledgement: median, p90, min and max over the rounds after the first (the
first also pays the producer's start: its id and the topic's metadata).

Usage: broker_ack_latency.py BOOTSTRAP TOPIC [ROUNDS]   (e.g. with .run/venv/bin/python)
"""
import statistics
import sys
import time

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap, topic = sys.argv[1], sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 100
BATCH, SIZE = 1000, 1500

admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the futures resolve
for future in admin.create_topics([NewTopic(topic, 6, 1)]).values():
    try:
        future.result()
    except KafkaException as error:
        if "TOPIC_ALREADY_EXISTS" not in str(error):
            raise

producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
value = b"x" * SIZE
latencies = []
for _ in range(rounds + 1):
    state = {"pending": BATCH, "done": None, "failed": 0}

    def delivered(error, _message, state=state):
        state["failed"] += error is not None
        state["pending"] -= 1
        if state["pending"] == 0:
            state["done"] = time.monotonic()

    started = time.monotonic()
    for index in range(BATCH):
        producer.produce(topic, value, key=str(index).encode(), on_delivery=delivered)
    while state["done"] is None:
        producer.poll(0.001)
    if state["failed"]:
        sys.exit(f"{state['failed']} of {BATCH} records failed")
    latencies.append((state["done"] - started) * 1000)

first, rest = latencies[0], sorted(latencies[1:])
print(f"{rounds} batches of {BATCH} x {SIZE} B acknowledged after: median {statistics.median(rest):.1f} ms, "
      f"p90 {rest[int(len(rest) * 0.9)]:.1f}, min {rest[0]:.1f}, max {rest[-1]:.1f} (first batch {first:.1f})")
