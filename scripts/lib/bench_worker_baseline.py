"""The baseline of scripts/bench-worker: a plain Python worker on confluent-kafka doing
the steps of Breakwater's rules path, kept honest and simple.

Per record: JSON decode, the ordered rules of deploy/rules.yaml (first match wins;
matchers on alertname, labels, summary and description: exact, regex, presence),
the keyword category and source-severity mapping, build the incident, JSON encode,
produce keyed by fingerprint; offsets stored after the produce call and committed by
the client every second. What it skips that Breakwater does: the five input formats
(it reads single Alertmanager alerts only), decoding limits, the catalog lookup with
its fallback chain (it uses the static catalog file as a dict), fallback events, dead
letters, traceparent, waiting for each delivery before the offset.

Usage: bench_worker_baseline.py BOOTSTRAP INPUT_TOPIC OUTPUT_TOPIC COUNT
Prints one JSON line: records, seconds (first record to last delivery), cpu_seconds (over
the same interval, all threads), max_rss_kb.
"""
import json
import re
import resource
import sys
import time
import uuid

import yaml
from confluent_kafka import Consumer, Producer

bootstrap, input_topic, output_topic, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

rules_file = yaml.safe_load(open("deploy/rules.yaml"))
catalog = {entry["name"]: entry for entry in yaml.safe_load(open("deploy/catalog.yaml"))["services"]}
SOURCE_SEVERITY = {"critical": "critical", "error": "high", "high": "high", "warning": "medium",
                   "medium": "medium", "info": "info", "low": "low"}


def matcher(spec):
    if isinstance(spec, str):
        return lambda value: value == spec
    if "equals" in spec:
        return lambda value: value == spec["equals"]
    if "regex" in spec:
        # ICU accepts (?i) anywhere in a pattern (deploy/rules.yaml has "^(?i)(info|...)$");
        # Python's re only at the start, so it becomes the IGNORECASE flag.
        pattern = spec["regex"]
        flags = re.IGNORECASE if "(?i)" in pattern else 0
        compiled = re.compile(pattern.replace("(?i)", ""), flags)
        return lambda value: value is not None and compiled.search(value) is not None
    if "present" in spec:
        wanted = spec["present"]
        return lambda value: (value is not None) == wanted
    raise ValueError(spec)


rules = []
for rule in rules_file["rules"]:
    match = rule.get("match", {})
    checks = []
    for field in ("alertname", "summary", "description"):
        if field in match:
            checks.append((field, matcher(match[field])))
    for label, spec in match.get("labels", {}).items():
        checks.append(("label:" + label, matcher(spec)))
    rules.append((rule["name"], checks, rule.get("severity"), rule.get("category")))
keywords = [(entry["category"], [word.lower() for word in entry["words"]]) for entry in rules_file["keywords"]]
defaults = rules_file["defaults"]


def field(alert, name):
    labels, annotations = alert.get("labels", {}), alert.get("annotations", {})
    if name == "alertname":
        return labels.get("alertname")
    if name in ("summary", "description"):
        return annotations.get(name)
    return labels.get(name[len("label:"):])


def classify(alert):
    source = SOURCE_SEVERITY.get(alert.get("labels", {}).get("severity", "").lower())
    for name, checks, severity, category in rules:
        if all(check(field(alert, what)) for what, check in checks):
            return name, severity or source or defaults["severity"], category or keyword_category(alert)
    return None, source or defaults["severity"], keyword_category(alert)


def keyword_category(alert):
    text = " ".join(filter(None, (field(alert, "alertname"), field(alert, "summary"), field(alert, "description")))).lower()
    for category, words in keywords:
        if any(word in text for word in words):
            return category
    return defaults["category"]


consumer = Consumer({
    "bootstrap.servers": bootstrap, "group.id": "bench-python-" + uuid.uuid4().hex[:8],
    "auto.offset.reset": "earliest", "enable.auto.offset.store": False, "enable.auto.commit": True,
    "auto.commit.interval.ms": 1000, "receive.message.max.bytes": 1000000000,
})
producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
delivered = 0


def on_delivery(error, _message):
    global delivered
    if error is None:
        delivered += 1


consumer.subscribe([input_topic])
started = None
seen = 0
while seen < count:
    for message in consumer.consume(num_messages=500, timeout=1.0):
        if message.error():
            continue
        if started is None:
            started = time.monotonic()
            start_usage = resource.getrusage(resource.RUSAGE_SELF)
        alert = json.loads(message.value())
        labels = alert.get("labels", {})
        rule, severity, category = classify(alert)
        service = labels.get("service")
        received = time.time()
        incident = {
            "schema_version": 1,
            "incident_id": "inc-" + uuid.uuid4().hex[:16],
            "alert": alert,
            "enrichment": catalog.get(service),
            "classification": {"severity": severity, "category": category, "classifier": "rules", "rule": rule},
            "worker_id": "python-baseline",
            "received_at": received,
            "processed_at": time.time(),
        }
        producer.produce(output_topic, json.dumps(incident).encode(), key=message.key(), on_delivery=on_delivery)
        producer.poll(0)
        consumer.store_offsets(message)
        seen += 1
producer.flush(60)
elapsed = time.monotonic() - started
consumer.close()
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = (usage.ru_utime + usage.ru_stime) - (start_usage.ru_utime + start_usage.ru_stime)
print(json.dumps({"records": delivered, "seconds": elapsed, "cpu_seconds": cpu, "max_rss_kb": usage.ru_maxrss}))
