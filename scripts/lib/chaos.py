"""The chaos run of scripts/chaos (see that script for what it injects and checks).

Every input record carries a W3C `traceparent` header whose trace id names the run and
the record's sequence number; the worker copies that header onto every incident and
fallback event it writes for the record, and a dead letter keeps the original headers
plus its source topic, partition and offset. That is how every output is traced back
to its input offset.
"""
import argparse
import json
import math
import os
import re
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

MOCK_PARTITION_MAX_BYTES = 5 * 1024 * 1024
# Fill a partition to at most this share of the mock's limit (batch overhead, skew).
PARTITION_FILL = 0.6
START = time.time()



# The Kafka layer's log lines for a refused commit: on the timer, before a revoke, at close.
REFUSED_COMMIT = re.compile(r'msg="(offset commit failed|commit on revoke failed|consumer closed; final commit or leave failed)"')


def commit_failures(directory):
    """Offset commits the workers logged as refused, by the broker's reason."""
    reasons = {}
    for name in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
        if not name.endswith(".log"):
            continue
        with open(os.path.join(directory, name), errors="replace") as log_file:
            for line in log_file:
                if REFUSED_COMMIT.search(line):
                    match = re.search(r"KafkaError ([A-Z_]+)", line)
                    reason = match.group(1) if match else "other"
                    reasons[reason] = reasons.get(reason, 0) + 1
    return reasons

def log(message):
    print(f"chaos {time.time() - START:7.1f}s  {message}", file=sys.stderr, flush=True)


def post(url, body=None):
    request = urllib.request.Request(url, data=json.dumps(body or {}).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def get_text(url, timeout=2):
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return answer.read().decode()


# ---------------------------------------------------------------- inputs

SERVICES = ["checkout", "auth", "payments", "search", "inventory", "api-gateway", "billing", "email-worker"]
NAMES = ["HighErrorRate", "HighLatency", "InstanceDown", "DiskSpaceLow", "KubePodCrashLooping", "TargetDown",
         "CPUThrottlingHigh", "CertificateExpiring", "BruteForceLogin", "QueueBacklog"]
SEVERITIES = ["critical", "warning", "info", "error", "high"]
FORMATS = ["alertmanager-alert", "alertmanager-webhook", "grafana-webhook", "cloudevent-structured",
           "cloudevent-binary", "pagerduty"]


class Input:
    __slots__ = ("seq", "fmt", "alerts", "malformed", "key", "value", "headers", "partition", "offset")

    def __init__(self, seq, fmt, alerts, malformed, key, value, headers):
        self.seq, self.fmt, self.alerts, self.malformed = seq, fmt, alerts, malformed
        self.key, self.value, self.headers = key, value, headers
        self.partition = self.offset = None


def make_alert(rng, seq, index):
    name, service = rng.choice(NAMES), rng.choice(SERVICES)
    return {"status": "firing",
            "labels": {"alertname": name, "service": service, "severity": rng.choice(SEVERITIES),
                       "instance": f"10.{seq % 250}.{index}.{seq % 199}:9100", "chaos_seq": f"{seq}.{index}"},
            "annotations": {"summary": f"{name} on {service}",
                            "description": f"{name} fired for {service}; value {rng.randint(1, 99)}% above threshold"},
            "startsAt": "2026-12-05T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up"}


def make_malformed(rng, seq):
    """A record the worker must dead-letter, one of several kinds of wrong."""
    kind = seq % 8
    if kind == 0:
        return b"{\"alerts\": [", []                                   # invalid JSON
    if kind == 1:
        return b"", []                                                 # empty record
    if kind == 2:
        return b"\xff\xfe{\"labels\": 1}", []                          # invalid UTF-8
    if kind == 3:
        return json.dumps({"hello": "world", "seq": seq}).encode(), []  # unknown format
    if kind == 4:
        return json.dumps({"alerts": [{"labels": {}}]}).encode(), []   # empty labels
    if kind == 5:
        return json.dumps({"labels": "not-an-object"}).encode(), []    # wrong type
    if kind == 6:
        return ("[" * 100 + "]" * 100).encode(), []                    # too deep
    # A binary-mode CloudEvent without its required ce_id header.
    return json.dumps({"labels": {"alertname": "X"}}).encode(), [
        ("ce_specversion", b"1.0"), ("ce_source", b"/chaos"), ("ce_type", b"alert"), ("content-type", b"application/json")]


def make_inputs(count, malformed_every, run_tag):
    """count records: every format in turn, one in malformed_every malformed."""
    rng = random.Random(run_tag)
    inputs = []
    for seq in range(count):
        trace = f"00-{run_tag:016x}{seq:016x}-{rng.getrandbits(64):016x}-01".encode()
        headers = [("traceparent", trace)]
        if malformed_every and seq % malformed_every == malformed_every - 1:
            value, extra = make_malformed(rng, seq)
            inputs.append(Input(seq, "malformed", 0, True, f"bad-{seq}".encode(), value, headers + extra))
            continue
        fmt = FORMATS[seq % len(FORMATS)]
        key = f"k-{seq % 997}".encode()
        if fmt == "alertmanager-alert":
            alerts, value = 1, make_alert(rng, seq, 0)
        elif fmt in ("alertmanager-webhook", "grafana-webhook"):
            alerts = 1 + seq % 3
            value = {"version": "4", "status": "firing", "receiver": "breakwater", "groupKey": f"{{}}:{{seq=\"{seq}\"}}",
                     "commonLabels": {"team": "chaos"}, "alerts": [make_alert(rng, seq, i) for i in range(alerts)]}
            if fmt == "grafana-webhook":
                value.update(orgId=1, title=f"[FIRING:{alerts}] chaos", state="alerting", message="chaos run")
        elif fmt == "cloudevent-structured":
            alerts = 1
            value = {"specversion": "1.0", "id": f"chaos-{seq}", "source": "/chaos", "type": "com.example.alert",
                     "datacontenttype": "application/json", "data": make_alert(rng, seq, 0)}
        elif fmt == "cloudevent-binary":
            alerts, value = 1, make_alert(rng, seq, 0)
            headers += [("ce_specversion", b"1.0"), ("ce_id", f"chaos-{seq}".encode()), ("ce_source", b"/chaos"),
                        ("ce_type", b"com.example.alert"), ("content-type", b"application/json")]
        else:
            alerts = 1
            action = ["trigger", "trigger", "acknowledge", "resolve"][seq % 4]
            value = {"routing_key": "0123456789abcdef0123456789abcdef", "event_action": action,
                     "dedup_key": f"chaos-{run_tag:x}-{seq}",
                     "payload": {"summary": f"{rng.choice(NAMES)} on {rng.choice(SERVICES)}",
                                 "source": rng.choice(SERVICES), "severity": rng.choice(["critical", "error", "warning", "info"])}}
        inputs.append(Input(seq, fmt, alerts, False, key, json.dumps(value, separators=(",", ":")).encode(), headers))
    return inputs


def trace_seq(headers, run_tag):
    """The input sequence number in a traceparent of this run, or None."""
    for key, value in headers or []:
        if key.lower() == "traceparent" and value:
            text = value.decode(errors="replace")
            if len(text) >= 35 and text[3:19] == f"{run_tag:016x}":
                return int(text[19:35], 16)
    return None


# ---------------------------------------------------------------- the ML server stub

class MLStub:
    """An Open Inference Protocol v2 server answering like the alert-classifier model,
    whose behaviour the run switches: normal, hang, error (500), garbage, slow."""

    def __init__(self):
        self.mode = "normal"
        self.calls = {}
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, code, body):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self.reply(200, b"{}") if stub.mode != "error" else self.reply(500, b"{}")

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                mode = stub.mode
                with stub.lock:
                    stub.calls[mode] = stub.calls.get(mode, 0) + 1
                if mode == "hang":
                    while stub.mode == "hang":
                        time.sleep(0.2)
                    self.close_connection = True
                    return
                if mode == "error":
                    return self.reply(500, b'{"error": "chaos: internal error"}')
                if mode == "garbage":
                    return self.reply(200, b'{"outputs": [{"name": "severity", "shape": [1], "data": 42}]' if random.random() < 0.5
                                      else b"\x00not json at all")
                if mode == "slow":
                    time.sleep(1.2)
                try:
                    texts = json.loads(body)["inputs"][0]["data"]
                except (ValueError, KeyError, IndexError):
                    return self.reply(400, b'{"error": "bad request"}')
                n = len(texts)
                severities = ["critical" if "severity=critical" in t else "high" if "severity=error" in t else "medium" for t in texts]
                outputs = [
                    {"name": "severity", "shape": [n], "datatype": "BYTES", "data": severities},
                    {"name": "severity_confidence", "shape": [n], "datatype": "FP64", "data": [0.9] * n},
                    {"name": "category", "shape": [n], "datatype": "BYTES", "data": ["availability"] * n},
                    {"name": "category_confidence", "shape": [n], "datatype": "FP64", "data": [0.9] * n},
                ]
                self.reply(200, json.dumps({"model_name": "alert-classifier", "outputs": outputs}).encode())

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


# ---------------------------------------------------------------- reading the outputs

class Reader:
    """Reads the three output topics from the beginning while the run goes on (the mock
    cluster trims old data, so nothing may wait to be read until the end)."""

    def __init__(self, bootstrap, topics, run_tag, read_committed, input_topic, live=True):
        self.run_tag, self.input_topic = run_tag, input_topic
        self.topics = topics
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": f"chaos-reader-{run_tag:x}", "enable.auto.commit": False,
            "isolation.level": "read_committed" if read_committed else "read_uncommitted",
            "auto.offset.reset": "error", "fetch.max.bytes": 8 * 1024 * 1024, "enable.partition.eof": True,
            # The local broker ignores fetch limits and answers with all it has of the
            # partitions fetched (~2 KB per incident).
            "receive.message.max.bytes": 1_000_000_000,
        })
        self.at_end = set()        # (topic, partition) read to its end, until a record arrives there again
        self.assignment = [TopicPartition(name, p, OFFSET_BEGINNING) for name, count in topics.items() for p in range(count)]
        if live:
            self.consumer.assign(self.assignment)
        self.lock = threading.Lock()
        self.incidents = {}        # seq -> {fingerprint: copies}
        self.dead = {}             # (partition, offset) -> [reason, ...]
        self.fallbacks = []        # (timestamp, breaker, strategy, reason)
        self.duplicate_copies = [] # (processed_at, worker, output partition) of every incident copy after the first
        self.foreign = 0           # records without this run's traceparent
        self.trim_errors = []
        self.last_record_at = time.time()
        self.records = 0
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True) if live else None
        if self.thread:
            self.thread.start()

    def run(self):
        while not self.stopping:
            for message in self.consumer.consume(1000, 0.5):
                self._handle(message)

    def _handle(self, message):
        incidents_topic, fallback_topic, dlq_topic = self.topics_names
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._AUTO_OFFSET_RESET:
                self.trim_errors.append(str(error))
                log(f"READER: {error} (trimmed before it was read)")
            elif error.code() == KafkaError._PARTITION_EOF:
                with self.lock:
                    self.at_end.add((message.topic(), message.partition()))
            # else transient: brokers are being taken down on purpose
            return
        with self.lock:
            self.at_end.discard((message.topic(), message.partition()))
            self.records += 1
            self.last_record_at = time.time()
            topic = message.topic()
            if topic == incidents_topic:
                seq = trace_seq(message.headers(), self.run_tag)
                if seq is None:
                    self.foreign += 1
                    return
                incident = json.loads(message.value())
                fingerprint = incident["alert"]["fingerprint"]
                copies = self.incidents.setdefault(seq, {})
                copies[fingerprint] = copies.get(fingerprint, 0) + 1
                if copies[fingerprint] > 1:
                    stamp = datetime.fromisoformat(incident["processed_at"].replace("Z", "+00:00")).timestamp()
                    self.duplicate_copies.append((stamp, incident["worker_id"], message.partition()))
            elif topic == fallback_topic:
                event = json.loads(message.value())
                stamp = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
                self.fallbacks.append((stamp, event["breaker"], event["strategy"], event["reason"]))
            elif topic == dlq_topic:
                headers = {k: (v or b"").decode(errors="replace") for k, v in message.headers() or []}
                if headers.get("breakwater-dlq-source-topic") != self.input_topic:
                    self.foreign += 1
                    return
                where = (int(headers["breakwater-dlq-source-partition"]), int(headers["breakwater-dlq-source-offset"]))
                self.dead.setdefault(where, []).append(headers.get("breakwater-dlq-reason", "?"))

    @property
    def topics_names(self):
        return list(self.topics)

    def accounted(self, item):
        """Whether an input has its outcome: every alert's incident, or its dead letter."""
        if (item.partition, item.offset) in self.dead:
            return True
        return len(self.incidents.get(item.seq, ())) >= max(1, item.alerts) and not item.malformed

    def read_to_end(self, timeout):
        """For a reader made with live=False once nothing writes any more: reads every
        partition from its start to its end, one at a time (the local broker ignores
        fetch limits and would answer one fetch of everything with all it holds).
        False when that took longer than timeout seconds."""
        deadline = time.time() + timeout
        for partition in self.assignment:
            self.consumer.assign([partition])
            key = (partition.topic, partition.partition)
            while key not in self.at_end:
                if time.time() > deadline:
                    return False
                for message in self.consumer.consume(1000, 0.5):
                    self._handle(message)
            self.consumer.unassign()
        return True

    def close(self):
        self.stopping = True
        if self.thread:
            self.thread.join(10)
        self.consumer.close()


def create_topics(bootstrap, control, partitions):
    """Creates the run's topics: through the mock cluster's control interface, or with the
    admin API on the local broker."""
    if control:
        for name, count in partitions.items():
            post(f"{control}/topics", {"name": name, "partitions": count})
        return
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, count, 1) for name, count in partitions.items()])
    for future in futures.values():
        future.result(60)


def read_committed_honoured(bootstrap, control, run_tag):
    """Whether this broker hides aborted transactions from read_committed readers (the
    exactly-once check relies on it): one committed, one aborted record, read back."""
    topic = f"chaos-{run_tag:x}-txn-check"
    create_topics(bootstrap, control, {topic: 1})
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"chaos-check-{run_tag:x}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, b"aborted")
    producer.flush(30)
    producer.abort_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, b"committed")
    producer.commit_transaction(30)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"chaos-check-{run_tag:x}",
                         "isolation.level": "read_committed", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    seen, deadline = [], time.time() + 15
    while "committed" not in seen and time.time() < deadline:
        for message in consumer.consume(10, 0.5):
            if not message.error():
                seen.append(message.value().decode())
    consumer.close()
    return "aborted" not in seen and "committed" in seen


# ---------------------------------------------------------------- workers

class Workers:
    def __init__(self, args, settings, state):
        self.args, self.settings, self.state = args, settings, state
        self.procs, self.ports, self.logs = {}, {}, {}
        self.restart_ready = []   # seconds from restart to /health/ready, per restart
        self.never_ready = []
        self.killed_before_ready = []   # restarted, then killed again before it was ready
        os.makedirs(os.path.join(state, "workers"), exist_ok=True)

    def env(self, worker_id):
        env = {k: v for k, v in os.environ.items() if not k.startswith("BREAKWATER_")}
        env.update(self.settings)
        env.update(BREAKWATER_PIPELINE_WORKER_ID=worker_id, BREAKWATER_HTTP_HOST="127.0.0.1",
                   BREAKWATER_HTTP_PORT=str(self.ports[worker_id]))
        return env

    def start(self, worker_id):
        if worker_id not in self.ports:
            import socket
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.ports[worker_id] = s.getsockname()[1]
        path = os.path.join(self.state, "workers", f"{worker_id}.log")
        handle = open(path, "a")
        handle.write(f"\n===== chaos: start at {time.time() - START:.1f}s =====\n")
        handle.flush()
        self.procs[worker_id] = subprocess.Popen([self.args.binary, "run"], env=self.env(worker_id), cwd=self.args.root,
                                                 stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                 start_new_session=True)
        handle.close()

    def url(self, worker_id):
        return f"http://127.0.0.1:{self.ports[worker_id]}"

    def ready(self, worker_id):
        try:
            get_text(self.url(worker_id) + "/health/ready", timeout=1)
            return True
        except Exception:
            return False

    def wait_ready(self, worker_id, timeout):
        began = time.time()
        while time.time() - began < timeout:
            if self.procs[worker_id].poll() is not None:
                return None
            if self.ready(worker_id):
                return time.time() - began
            time.sleep(0.25)
        return None

    def metric(self, worker_id, name):
        try:
            text = get_text(self.url(worker_id) + "/metrics", timeout=1)
        except Exception:
            return None
        return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ") or line.startswith(name + "{"))

    def kill_and_restart(self, worker_id):
        in_flight = self.metric(worker_id, "breakwater_in_flight")
        proc = self.procs[worker_id]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        time.sleep(1)
        restarted = time.time()
        self.start(worker_id)
        threading.Thread(target=self._watch_restart, args=(worker_id, restarted), daemon=True).start()
        return in_flight

    def _watch_restart(self, worker_id, restarted):
        proc = self.procs[worker_id]
        took = self.wait_ready(worker_id, 120)
        if took is not None:
            self.restart_ready.append(took)
        elif proc.returncode == -signal.SIGKILL:
            self.killed_before_ready.append((worker_id, restarted - START, time.time() - restarted))
            log(f"{worker_id}: killed again {time.time() - restarted:.0f}s after its restart, before it was ready")
        else:
            self.never_ready.append((worker_id, restarted - START, proc.returncode))
            log(f"{worker_id}: NOT READY after its restart at {restarted - START:.0f}s (exit status {proc.returncode})")

    def stop_all(self, deadline):
        """SIGTERM to every worker; SIGKILL to any still running after deadline seconds.
        Returns the workers that had to be killed and each one's exit status."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        ends, hung = {}, []
        began = time.time()
        for worker_id, proc in self.procs.items():
            try:
                ends[worker_id] = proc.wait(max(1, deadline - (time.time() - began)))
            except subprocess.TimeoutExpired:
                hung.append(worker_id)
                proc.kill()
                ends[worker_id] = proc.wait()
        return ends, hung, time.time() - began


# ---------------------------------------------------------------- the run

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--state", required=True)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--seeder")
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--control", help="the mock cluster's control URL; without it the run is on the local broker")
    parser.add_argument("--pg-url", required=True)
    parser.add_argument("--alerts", type=int, required=True)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--kill-every", type=float, required=True)
    parser.add_argument("--rate", type=int, default=0, help="input records per second (default: spread over the faults)")
    parser.add_argument("--short", action="store_true")
    parser.add_argument("--exactly-once", action="store_true")
    parser.add_argument("--max-in-flight", type=int, default=256)
    parser.add_argument("--drain-timeout", type=float, default=240)
    args = parser.parse_args()

    run_tag = random.getrandbits(63) | 1
    prefix = f"chaos-{run_tag:x}"
    group = f"{prefix}-group"
    topics = {"alerts": f"{prefix}.alerts", "classified": f"{prefix}.incidents", "fallback": f"{prefix}.fallback-events",
              "dlq": f"{prefix}.dlq", "repair": f"{prefix}.repair"}
    state = args.state
    os.makedirs(state, exist_ok=True)

    # Inputs, and topics sized so that the mock cluster's log limits never trim them.
    inputs = make_inputs(args.alerts, 50, run_tag)
    input_bytes = sum(len(i.value) + len(i.key) + sum(len(k) + len(v) for k, v in i.headers) + 20 for i in inputs)
    alerts_total = sum(i.alerts for i in inputs)
    budget = MOCK_PARTITION_MAX_BYTES * PARTITION_FILL
    input_partitions = max(12, math.ceil(input_bytes / budget))
    # ~1.9 KB per incident, ~0.35 KB per fallback event (up to three per alert in an outage).
    incident_partitions = max(12, math.ceil(alerts_total * 1900 / budget))
    fallback_partitions = max(12, math.ceil(alerts_total * 3 * 350 / budget))
    dlq_partitions = 6
    log(f"run {prefix}: {len(inputs)} input records ({alerts_total} alerts, "
        f"{sum(i.malformed for i in inputs)} malformed, {input_bytes / 1e6:.1f} MB); "
        f"partitions: input {input_partitions}, incidents {incident_partitions}, fallback events {fallback_partitions}, dlq {dlq_partitions}")
    if args.control and input_bytes / input_partitions > budget:
        log("WARNING: the input would exceed the mock cluster's per-partition log limit and be trimmed")
    partitions = {topics["alerts"]: input_partitions, topics["classified"]: incident_partitions,
                  topics["fallback"]: fallback_partitions, topics["dlq"]: dlq_partitions,
                  # One repair record (~2.3 KB) per alert a fallback served.
                  topics["repair"]: incident_partitions + incident_partitions // 4}
    create_topics(args.bootstrap, args.control, partitions)

    eo_checkable = None
    if args.exactly_once:
        eo_checkable = read_committed_honoured(args.bootstrap, args.control, run_tag)
        log(f"this broker {'hides' if eo_checkable else 'DOES NOT hide'} aborted transactions from read_committed readers")

    worker_ids = [f"chaos-{n}" for n in range(1, args.workers + 1)]
    if args.control:
        # The group coordinator, the workers' transaction coordinators and a share of the
        # partition leaders on broker 1: the broker the run takes down first.
        post(f"{args.control}/coordinator", {"type": "group", "key": group, "broker": 1})
        for worker_id in worker_ids:
            post(f"{args.control}/coordinator", {"type": "transaction", "key": f"breakwater-{group}-{worker_id}", "broker": 1})
        post(f"{args.control}/rebalance-delay", {"ms": 500})

    ml = MLStub()
    pg_bin = "/usr/lib/postgresql/15/bin"
    if args.seeder and os.access(args.seeder, os.X_OK):
        subprocess.run([args.seeder, "--url", args.pg_url, "--file", "deploy/catalog.yaml"], cwd=args.root, check=True,
                       env={k: v for k, v in os.environ.items() if not k.startswith("BREAKWATER_")},
                       stdout=subprocess.DEVNULL)
        catalog_note = "seeded from deploy/catalog.yaml"
    else:
        catalog_note = f"NOT seeded (no breakwater-catalog-seed at {args.seeder}): every lookup misses"
    log(f"ML stub {ml.url}; catalog {catalog_note}")

    settings = {
        "BREAKWATER_KAFKA_BOOTSTRAP_SERVERS": args.bootstrap, "BREAKWATER_KAFKA_GROUP_ID": group,
        # The run creates every topic itself: the workers' librdkafka (Debian's 2.0.2) mis-reads
        # the mock cluster's ApiVersions and refuses its admin API (_UNSUPPORTED_FEATURE).
        "BREAKWATER_KAFKA_CREATE_TOPICS": "false",
        "BREAKWATER_KAFKA_PROPERTIES": "session.timeout.ms=6000,heartbeat.interval.ms=1000",
        "BREAKWATER_TOPICS_ALERTS": topics["alerts"], "BREAKWATER_TOPICS_CLASSIFIED": topics["classified"],
        "BREAKWATER_TOPICS_FALLBACK_EVENTS": topics["fallback"], "BREAKWATER_TOPICS_DEAD_LETTER": topics["dlq"],
        "BREAKWATER_TOPICS_REPAIR": topics["repair"],
        "BREAKWATER_TOPICS_PARTITIONS": str(input_partitions),
        "BREAKWATER_TOPICS_REPLICATION_FACTOR": "3" if args.control else "1",
        "BREAKWATER_PIPELINE_MAX_IN_FLIGHT": str(args.max_in_flight),
        "BREAKWATER_PIPELINE_EXACTLY_ONCE": "true" if args.exactly_once else "false",
        "BREAKWATER_ML_URL": ml.url, "BREAKWATER_CATALOG_POSTGRES_URL": args.pg_url,
        "BREAKWATER_BREAKERS_ML_OPEN_DURATION": "5s", "BREAKWATER_BREAKERS_CATALOG_OPEN_DURATION": "5s",
        "BREAKWATER_BREAKERS_DEDUP_OPEN_DURATION": "5s", "BREAKWATER_LOGGING_LEVEL": "info",
        # As the local stack runs (scripts/lib/stack.sh): partitions at their end rest, so
        # the kills and rebalances also land on resting (paused) partitions.
        "BREAKWATER_KAFKA_IDLE_FETCH_BACKOFF": "200ms",
    }
    if not args.control:
        # The local broker never evicts a member that died without leaving, so the group
        # would wait for a killed worker for good; under static membership its restart
        # (same worker id, so the same group.instance.id) takes its place instead.
        settings["BREAKWATER_KAFKA_STATIC_MEMBERSHIP"] = "true"
    # BREAKWATER_CHAOS_SETTINGS: the caller's own worker settings, as VARIABLE=VALUE words.
    for word in os.environ.get("BREAKWATER_CHAOS_SETTINGS", "").split():
        variable, _, value = word.partition("=")
        if not variable.startswith("BREAKWATER_") or not _:
            sys.exit(f"chaos: BREAKWATER_CHAOS_SETTINGS takes BREAKWATER_...=VALUE words (got {word!r})")
        settings[variable] = value
    with open(os.path.join(state, "settings.json"), "w") as f:
        json.dump(settings, f, indent=1)
    output_partitions = {topics["classified"]: incident_partitions, topics["fallback"]: fallback_partitions,
                         topics["dlq"]: dlq_partitions}
    # On the local broker a read_committed consumer that reads at the end of a partition
    # while a transaction there aborts never sees that producer's later records (both
    # librdkafka 2.0.2 and 2.16 on noida-db; a consumer that starts later reads them all).
    # So there the live reader, which only follows progress, reads uncommitted, and the
    # verdict comes from a full read_committed pass once the workers have stopped (the
    # local broker trims nothing).
    reader = Reader(args.bootstrap, output_partitions, run_tag, args.exactly_once and bool(args.control), topics["alerts"])
    workers = Workers(args, settings, state)
    for worker_id in worker_ids:
        workers.start(worker_id)
    for worker_id in worker_ids:
        took = workers.wait_ready(worker_id, 120)
        if took is None:
            log(f"{worker_id} did not become ready; see {state}/workers/{worker_id}.log")
            workers.stop_all(10)
            sys.exit(1)
    log(f"{len(worker_ids)} workers ready ({', '.join(workers.url(w) for w in worker_ids)})")

    # Produce at the planned rate; the faults run meanwhile.
    producer = Producer({"bootstrap.servers": args.bootstrap, "enable.idempotence": True, "linger.ms": 5,
                         "message.timeout.ms": 600000})
    undelivered = []

    def delivered(item):
        def report(error, message):
            if error is None:
                item.partition, item.offset = message.partition(), message.offset()
            else:
                undelivered.append((item.seq, str(error)))
        return report

    production_done = threading.Event()

    def produce():
        began = time.time()
        for n, item in enumerate(inputs):
            while True:
                try:
                    producer.produce(topics["alerts"], item.value, item.key, headers=item.headers, on_delivery=delivered(item))
                    break
                except BufferError:
                    producer.poll(0.1)
            if n % 100 == 99:
                producer.poll(0)
                ahead = (n + 1) / args.rate - (time.time() - began)
                if ahead > 0:
                    time.sleep(ahead)
        producer.flush(600)
        production_done.set()
        log(f"produced {len(inputs)} records in {time.time() - began:.0f}s ({len(undelivered)} undelivered)")

    windows = []          # (label, start, end)
    kills = []            # (time, worker, in-flight at the kill)
    faults_done = threading.Event()

    def window(label, start_action, end_action, seconds):
        start = time.time()
        log(f"FAULT {label}: begins")
        start_action()
        time.sleep(seconds)
        end_action()
        windows.append((label, start, time.time()))
        log(f"FAULT {label}: ends ({time.time() - start:.0f}s)")

    def ml_mode(mode):
        return lambda: setattr(ml, "mode", mode)

    def pg(action):
        script = os.path.join(args.root, "scripts", "pg-down" if action == "down" else "pg-up")
        return lambda: subprocess.run([script] + (["--keep"] if action == "down" else []), check=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def broker(n, action):
        return lambda: post(f"{args.control}/broker/{n}/{action}")

    def leaders_of(n):
        status = json.loads(get_text(f"{args.control}/status", timeout=60))
        parts = status["topics"].get(topics["alerts"], {}).get("partitions", {})
        return [int(p) for p, info in parts.items() if info.get("leader") == n]

    def failover(n, to):
        """Broker n goes down and its input partitions' leadership moves to broker `to`."""
        def down():
            moved.extend(leaders_of(n))
            post(f"{args.control}/broker/{n}/down")
            time.sleep(2)
            for p in moved:
                post(f"{args.control}/leader", {"topic": topics["alerts"], "partition": p, "broker": to})

        def up():
            post(f"{args.control}/broker/{n}/up")
            time.sleep(2)
            for p in moved:
                post(f"{args.control}/leader", {"topic": topics["alerts"], "partition": p, "broker": n})
        moved = []
        return down, up

    def plan_faults():
        if not args.control:
            # The local broker is one process with no fault control: no broker faults.
            plan = [
                ("ML hangs", ml_mode("hang"), ml_mode("normal"), 8 if args.short else 12),
                ("ML answers 500", ml_mode("error"), ml_mode("normal"), 6 if args.short else 10),
                ("PostgreSQL stopped", pg("down"), pg("up"), 8 if args.short else 12),
            ]
            if not args.short:
                plan += [("ML answers garbage", ml_mode("garbage"), ml_mode("normal"), 10),
                         ("ML answers slowly (1.2 s)", ml_mode("slow"), ml_mode("normal"), 10)]
        elif args.short:
            plan = [
                ("ML hangs", ml_mode("hang"), ml_mode("normal"), 8),
                ("broker 1 down (group + transaction coordinator, partition leader)", broker(1, "down"), broker(1, "up"), 10),
                ("ML answers 500", ml_mode("error"), ml_mode("normal"), 6),
                ("PostgreSQL stopped", pg("down"), pg("up"), 8),
            ]
        else:
            down2, up2 = failover(2, 3)
            plan = [
                ("ML hangs", ml_mode("hang"), ml_mode("normal"), 12),
                ("PostgreSQL stopped", pg("down"), pg("up"), 12),
                ("broker 1 down (group + transaction coordinator, partition leader)", broker(1, "down"), broker(1, "up"), 12),
                ("ML answers 500", ml_mode("error"), ml_mode("normal"), 10),
                ("request errors (commit, produce, fetch, join) + 300 ms rtt on broker 3",
                 lambda: [post(f"{args.control}/errors", {"api": "OffsetCommit", "errors": ["NOT_COORDINATOR", "REQUEST_TIMED_OUT"] * 3}),
                          post(f"{args.control}/errors", {"api": "Produce", "errors": ["NOT_LEADER_OR_FOLLOWER", "REQUEST_TIMED_OUT"] * 5}),
                          post(f"{args.control}/errors", {"api": "Fetch", "errors": ["NOT_LEADER_OR_FOLLOWER"] * 5}),
                          post(f"{args.control}/errors", {"api": "JoinGroup", "errors": ["NOT_COORDINATOR"] * 2}),
                          post(f"{args.control}/broker/3/rtt", {"ms": 300})],
                 lambda: post(f"{args.control}/broker/3/rtt", {"ms": 0}), 10),
                ("ML answers garbage", ml_mode("garbage"), ml_mode("normal"), 10),
                ("broker 2 down, its partition leaders moved to broker 3, then back", down2, up2, 12),
                ("ML answers slowly (1.2 s)", ml_mode("slow"), ml_mode("normal"), 10),
            ]
        return plan

    pause = 3 if args.short else 4
    plan = plan_faults()
    if not args.rate:
        args.rate = max(50, int(len(inputs) / (pause + sum(p[3] + pause for p in plan))))
    log(f"input at {args.rate} records/s; {len(plan)} fault windows; a kill every {args.kill_every:.0f}s")

    def schedule():
        time.sleep(pause)
        for label, begin, end, seconds in plan:
            window(label, begin, end, seconds)
            time.sleep(pause)
        faults_done.set()

    def killer():
        index = 0
        time.sleep(args.kill_every)
        while not faults_done.is_set() or not production_done.is_set():
            worker_id = worker_ids[index % len(worker_ids)]
            index += 1
            in_flight = workers.kill_and_restart(worker_id)
            kills.append((time.time(), worker_id, in_flight))
            log(f"KILL -9 {worker_id} (in flight {in_flight if in_flight is not None else '?'}), restarted")
            time.sleep(args.kill_every)

    threads = [threading.Thread(target=f, daemon=True) for f in (produce, schedule, killer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    last_fault = max([kills[-1][0] if kills else 0] + [end for _, _, end in windows])
    log(f"faults over; {len(kills)} kills; waiting for every input's outcome (at most {args.drain_timeout:.0f}s)")

    produced = [i for i in inputs if i.offset is not None]
    drained_at, deadline = None, time.time() + args.drain_timeout
    def idle(worker_id):
        return workers.metric(worker_id, "breakwater_consumer_lag") == 0 and workers.metric(worker_id, "breakwater_in_flight") == 0

    while time.time() < deadline:
        with reader.lock:
            missing = sum(1 for i in produced if not reader.accounted(i))
        # Uncommitted outputs may be aborted yet: on the local broker the workers must be idle too.
        if missing == 0 and (args.control or all(idle(w) for w in worker_ids)):
            drained_at = time.time()
            break
        time.sleep(1)
    # Wait a moment for any late copies (duplicates) still being written, then stop.
    time.sleep(3)
    readiness = {w: workers.ready(w) for w in worker_ids}
    lag = {w: workers.metric(w, "breakwater_consumer_lag") for w in worker_ids}
    in_flight_end = {w: workers.metric(w, "breakwater_in_flight") for w in worker_ids}
    for worker_id in worker_ids:
        try:
            with open(os.path.join(state, "workers", f"{worker_id}.metrics.txt"), "w") as f:
                f.write(get_text(workers.url(worker_id) + "/metrics", timeout=2))
        except Exception as error:
            log(f"{worker_id}: /metrics not answered at the end: {error}")
    ends, hung, stop_took = workers.stop_all(75)
    time.sleep(2)
    status = json.loads(get_text(f"{args.control}/status", timeout=120)) if args.control else {}
    reader.close()
    final_pass = None
    if not args.control:
        reader = Reader(args.bootstrap, output_partitions, run_tag, args.exactly_once, topics["alerts"], live=False)
        final_pass = reader.read_to_end(300)
        reader.close()

    # ------------------------------------------------------------ accounting
    lost_inputs, partial, dead_valid, malformed_with_incident = [], [], [], []
    incidents = duplicates_incidents = 0
    for item in produced:
        copies = reader.incidents.get(item.seq, {})
        incidents += sum(copies.values())
        duplicates_incidents += sum(c - 1 for c in copies.values())
        letters = reader.dead.get((item.partition, item.offset), [])
        if item.malformed and copies:
            malformed_with_incident.append(item.seq)
        if letters:
            if not item.malformed:
                dead_valid.append((item.seq, letters[0]))
            continue
        if not copies:
            lost_inputs.append(item)
        elif len(copies) < item.alerts:
            partial.append(item)
    dlq_records = sum(len(v) for v in reader.dead.values())
    dlq_duplicates = sum(len(v) - 1 for v in reader.dead.values())
    dlq_reasons = {}
    for letters in reader.dead.values():
        for reason in letters:
            dlq_reasons[reason] = dlq_reasons.get(reason, 0) + 1
    lost = len(lost_inputs) + len(partial)
    duplicates = duplicates_incidents + dlq_duplicates
    bound_issue = args.max_in_flight * len(kills)
    bound_seen = sum(k[2] or 0 for k in kills)

    lines = []
    out = lines.append
    out(f"chaos run {prefix} ({'short' if args.short else 'default'}, {'exactly-once' if args.exactly_once else 'at-least-once'}, "
        f"{len(worker_ids)} workers, {'fault-injecting cluster' if args.control else 'local broker, no broker faults'}, "
        f"binary {args.binary})")
    out(f"inputs              {len(produced)} records ({sum(i.alerts for i in produced)} alerts, "
        f"{sum(i.malformed for i in produced)} malformed){'' if not undelivered else f'; {len(undelivered)} never acknowledged by the cluster'}")
    out(f"incidents           {incidents} records")
    out(f"DLQ records         {dlq_records}  " + ", ".join(f"{r} {n}" for r, n in sorted(dlq_reasons.items())))
    if final_pass is not None:
        out(f"accounted from      a full {'read_committed' if args.exactly_once else 'read_uncommitted'} read of the output topics "
            f"after the workers stopped ({reader.records} records{'' if final_pass else '; NOT READ TO THE END in 300 s'})")
    out(f"lost                {lost}" + (f"  ({len(lost_inputs)} inputs with no output, {len(partial)} with some alerts missing)" if lost else ""))
    if args.exactly_once:
        verdict = "must be 0" if eo_checkable else "NOT VERIFIED: this broker serves aborted transactions to read_committed readers"
        out(f"duplicates          {duplicates}  (read_committed; {verdict})")
    else:
        out(f"duplicates          {duplicates}  (incidents {duplicates_incidents}, dead letters {dlq_duplicates}); "
            f"bound maxInFlight x kills = {args.max_in_flight} x {len(kills)} = {bound_issue}; "
            f"in flight at the kills (scraped just before each) = {bound_seen}"
            f"{'' if duplicates <= bound_issue else '  (above it: commits were refused, see the next line)'}")
        refused = commit_failures(os.path.join(args.state, "workers"))
        out(f"  offset commits refused (worker logs): {sum(refused.values())}"
            + (" (" + ", ".join(f"{reason} {n}" for reason, n in sorted(refused.items())) + ")" if refused else "")
            + "; the next owner redoes everything published since a partition's last successful commit")
    if reader.duplicate_copies:
        buckets, by_worker = {}, {}
        for stamp, worker_id, _ in reader.duplicate_copies:
            bucket = int((stamp - START) // 5 * 5)
            buckets[bucket] = buckets.get(bucket, 0) + 1
            by_worker[worker_id] = by_worker.get(worker_id, 0) + 1
        out("  duplicate incidents by when written (5 s buckets from the start): "
            + ", ".join(f"{b}s {n}" for b, n in sorted(buckets.items())))
        out("  duplicate incidents by the worker that wrote the copy: " + ", ".join(f"{w} {n}" for w, n in sorted(by_worker.items())))
        out("  kills at: " + ", ".join(f"{t - START:.0f}s {w}" for t, w, _ in kills))
    out(f"kills               {len(kills)} (SIGKILL, same worker id; ready again after "
        + (f"{min(workers.restart_ready):.1f}-{max(workers.restart_ready):.1f}s" if workers.restart_ready else "-")
        + (f"; {len(workers.killed_before_ready)} killed again before ready, after "
           + ", ".join(f"{k[2]:.0f}s" for k in workers.killed_before_ready) if workers.killed_before_ready else "")
        + (f"; NEVER READY after {len(workers.never_ready)} restarts: {workers.never_ready}" if workers.never_ready else "") + ")")
    out("fallback events per outage window (by breaker/strategy, by the events' timestamps):")
    marks = [("before the faults", START, min([w[1] for w in windows] or [time.time()]))]
    marks += [(label, s, e) for label, s, e in windows]
    for label, s, e in marks:
        counts = {}
        for stamp, breaker_name, strategy, reason in reader.fallbacks:
            if s <= stamp < e:
                key = f"{breaker_name}/{strategy}"
                counts[key] = counts.get(key, 0) + 1
        out(f"  {label} [{s - START:.0f}s-{e - START:.0f}s]: " + (", ".join(f"{k} {n}" for k, n in sorted(counts.items())) or "none"))
    after = {}
    for stamp, breaker_name, strategy, reason in reader.fallbacks:
        if stamp >= last_fault:
            after[f"{breaker_name}/{strategy}"] = after.get(f"{breaker_name}/{strategy}", 0) + 1
    out(f"  after the last fault: " + (", ".join(f"{k} {n}" for k, n in sorted(after.items())) or "none"))
    out(f"fallback events     {len(reader.fallbacks)} in all")
    out(f"drain               " + (f"{drained_at - last_fault:.1f}s after the last fault" if drained_at
                                   else f"NOT DRAINED {args.drain_timeout:.0f}s after the last fault"))
    out(f"ML stub calls       " + ", ".join(f"{m} {n}" for m, n in sorted(ml.calls.items())))
    out(f"workers at the end  ready {readiness}; lag {lag}; in flight {in_flight_end}")
    out(f"graceful stop       {stop_took:.1f}s; exit statuses {ends}" + (f"; HUNG (SIGKILL after 75 s): {hung}" if hung else ""))
    trimmed = {k: v for k, v in status.get("trimmed", {}).items() if k.startswith(prefix)}
    if args.control:
        out(f"trimmed by the mock {trimmed or 'nothing'}" + (f"; reader saw {len(reader.trim_errors)} offset resets" if reader.trim_errors else ""))
    if malformed_with_incident:
        out(f"malformed inputs that produced an incident: {len(malformed_with_incident)} (seq {malformed_with_incident[:10]})")
    if dead_valid:
        out(f"valid inputs dead-lettered: {len(dead_valid)} (e.g. {dead_valid[:5]})")
    if reader.foreign:
        out(f"output records of other runs or without a traceparent: {reader.foreign}")
    for item in (lost_inputs + partial)[:20]:
        out(f"  LOST seq {item.seq} {item.fmt} partition {item.partition} offset {item.offset}: "
            f"{len(reader.incidents.get(item.seq, {}))} of {item.alerts} incidents, no dead letter")
    verdict_lost = lost == 0 and not undelivered and final_pass is not False
    if args.exactly_once and eo_checkable and duplicates:
        out("VERDICT: FAILED (duplicates in exactly-once mode)")
    if undelivered:
        out(f"VERDICT: {len(undelivered)} inputs were never acknowledged by the cluster (the run cannot account for them)")
    out(f"VERDICT: {'NOTHING LOST' if lost == 0 else f'LOST {lost}'}")
    report = "\n".join(lines)
    print(report, flush=True)
    with open(os.path.join(state, "summary.txt"), "w") as f:
        f.write(report + "\n")
    with open(os.path.join(state, "lost.jsonl"), "w") as f:
        for item in lost_inputs + partial:
            f.write(json.dumps({"seq": item.seq, "format": item.fmt, "partition": item.partition, "offset": item.offset,
                                "alerts": item.alerts, "incidents": reader.incidents.get(item.seq, {})}) + "\n")
    with open(os.path.join(state, "events.json"), "w") as f:
        json.dump({"start": START, "windows": windows, "kills": kills, "last_fault": last_fault, "drained_at": drained_at},
                  f, indent=1)
    if not verdict_lost:
        sys.exit(1)
    if args.exactly_once and (duplicates and eo_checkable):
        sys.exit(1)
    if args.exactly_once and not eo_checkable:
        sys.exit(3)


if __name__ == "__main__":
    main()
