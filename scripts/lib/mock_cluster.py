"""A fault-injecting Kafka cluster for tests, the demo and by hand: librdkafka's mock
cluster (3 brokers on 127.0.0.1) hosted as a standalone process, with a control
interface over HTTP on loopback.

The mock cluster lives inside librdkafka. This process loads the librdkafka that
PyPI's confluent-kafka wheel bundles (2.16: a newer mock cluster than Debian's 2.0.2,
with a group coordinator that evicts a member silent past its session timeout) through
ctypes, creates a client with `test.mock.num.brokers`, and serves the mock API:

    GET  /status                              brokers, topics (leaders, watermarks),
                                              coordinators set, faults injected,
                                              partitions trimmed by the log limits
    POST /topics      {"name", "partitions"}  create a topic (replication 1..3)
    POST /broker/N/down, /broker/N/up         take broker N off the network and back
    POST /broker/N/rtt {"ms"}                 round-trip delay of every answer of N
    POST /errors {"api", "errors": [..], "broker"?, "rtt_ms"?}
                                              the next requests of that API answer
                                              these errors, in order (cluster-wide, or
                                              on one broker with an extra delay each)
    POST /errors/clear {"api"}                forget the pushed errors of an API
    POST /leader {"topic", "partition", "broker"}   move a partition's leader
    POST /coordinator {"type": group|transaction, "key", "broker"}
    POST /rebalance-delay {"ms"}              the group's initial rebalance delay

APIs are named as Kafka names them (Produce, Fetch, OffsetCommit, JoinGroup, ...);
errors by librdkafka's names without the RD_KAFKA_RESP_ERR_ prefix (NOT_COORDINATOR,
REQUEST_TIMED_OUT, NOT_LEADER_OR_FOLLOWER, ...). Every answer is JSON; a bad request
gets 400 with the reason.

The mock keeps at most 5 MiB or 100,000 record batches per partition and drops the
oldest batches past either (rdkafka_mock.c, rd_kafka_mock_partition_init; no API or
property changes that in this version). A watcher compares every partition's log start
offset with 0 each `--trim-check` seconds and logs a WARNING naming the partition and
how many records were dropped; /status lists them under `trimmed`. Size runs so that
nothing is trimmed before it is read (scripts/chaos does).

Usage: mock_cluster.py --state DIR [--brokers 3] [--topic NAME:PARTITIONS]...
Writes DIR/bootstrap (the brokers) and DIR/control (the control URL) once serving.
"""
import argparse
import ctypes
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import confluent_kafka
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

# Kafka API keys the mock answers (the subset worth injecting faults into).
API_KEYS = {
    "Produce": 0, "Fetch": 1, "ListOffsets": 2, "Metadata": 3, "OffsetCommit": 8, "OffsetFetch": 9,
    "FindCoordinator": 10, "JoinGroup": 11, "Heartbeat": 12, "LeaveGroup": 13, "SyncGroup": 14,
    "ApiVersions": 18, "CreateTopics": 19, "InitProducerId": 22, "AddPartitionsToTxn": 24,
    "AddOffsetsToTxn": 25, "EndTxn": 26, "TxnOffsetCommit": 28,
}
# Per-partition log limits of the mock (rdkafka_mock.c): for the capacity warnings.
MOCK_PARTITION_MAX_BYTES = 5 * 1024 * 1024
MOCK_PARTITION_MAX_BATCHES = 100000
# Kafka's current names for errors librdkafka still spells the old way.
ERROR_ALIASES = {"NOT_LEADER_OR_FOLLOWER": "NOT_LEADER_FOR_PARTITION"}


def log(message):
    print(f"{time.strftime('%H:%M:%S')} mock-cluster: {message}", file=sys.stderr, flush=True)


class ErrDesc(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("name", ctypes.c_char_p), ("desc", ctypes.c_char_p)]


def bundled_librdkafka():
    """The librdkafka shared object inside the confluent-kafka wheel (the one its
    extension module links, so both share one copy in this process)."""
    libs = os.path.join(os.path.dirname(os.path.dirname(confluent_kafka.__file__)), "confluent_kafka.libs")
    candidates = sorted(f for f in os.listdir(libs) if f.startswith("librdkafka")) if os.path.isdir(libs) else []
    if not candidates:
        sys.exit(f"mock-cluster: no bundled librdkafka under {libs}; is confluent-kafka a binary wheel?")
    return os.path.join(libs, candidates[0])


class MockCluster:
    """The mock cluster and every fault it was given (for /status)."""

    def __init__(self, brokers):
        self.lib = lib = ctypes.CDLL(bundled_librdkafka())
        lib.rd_kafka_conf_new.restype = ctypes.c_void_p
        lib.rd_kafka_conf_set.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.rd_kafka_new.restype = ctypes.c_void_p
        lib.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.rd_kafka_handle_mock_cluster.restype = ctypes.c_void_p
        lib.rd_kafka_handle_mock_cluster.argtypes = [ctypes.c_void_p]
        lib.rd_kafka_mock_cluster_bootstraps.restype = ctypes.c_char_p
        lib.rd_kafka_mock_cluster_bootstraps.argtypes = [ctypes.c_void_p]
        lib.rd_kafka_mock_topic_create.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
        for name in ("rd_kafka_mock_broker_set_down", "rd_kafka_mock_broker_set_up"):
            getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_int32]
        lib.rd_kafka_mock_broker_set_rtt.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.c_int]
        lib.rd_kafka_mock_partition_set_leader.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.c_int32]
        lib.rd_kafka_mock_coordinator_set.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int32]
        lib.rd_kafka_mock_push_request_errors_array.argtypes = [
            ctypes.c_void_p, ctypes.c_int16, ctypes.c_size_t, ctypes.POINTER(ctypes.c_int)]
        lib.rd_kafka_mock_clear_request_errors.argtypes = [ctypes.c_void_p, ctypes.c_int16]
        lib.rd_kafka_mock_group_initial_rebalance_delay_ms.argtypes = [ctypes.c_void_p, ctypes.c_int32]
        # Variadic: (mcluster, broker, api, count, then count pairs of error code and rtt ms).
        lib.rd_kafka_mock_broker_push_request_error_rtts.restype = ctypes.c_int

        descs, count = ctypes.POINTER(ErrDesc)(), ctypes.c_size_t()
        lib.rd_kafka_get_err_descs(ctypes.byref(descs), ctypes.byref(count))
        self.errors = {descs[i].name.decode(): descs[i].code for i in range(count.value) if descs[i].name}

        conf = lib.rd_kafka_conf_new()
        errstr = ctypes.create_string_buffer(512)
        for key, value in (("test.mock.num.brokers", str(brokers)), ("bootstrap.servers", ""),
                           ("log_level", "4")):
            if lib.rd_kafka_conf_set(conf, key.encode(), value.encode(), errstr, len(errstr)) != 0:
                sys.exit(f"mock-cluster: {key}={value}: {errstr.value.decode()}")
        self.rk = lib.rd_kafka_new(0, conf, errstr, len(errstr))  # RD_KAFKA_PRODUCER
        if not self.rk:
            sys.exit(f"mock-cluster: rd_kafka_new failed: {errstr.value.decode()}")
        self.mcluster = lib.rd_kafka_handle_mock_cluster(self.rk)
        if not self.mcluster:
            sys.exit("mock-cluster: this librdkafka made no mock cluster")
        self.bootstrap = lib.rd_kafka_mock_cluster_bootstraps(self.mcluster).decode()
        # Admin clients wait for a controller; the mock names none until told.
        lib.rd_kafka_mock_set_controller_id.argtypes = [ctypes.c_void_p, ctypes.c_int32]
        lib.rd_kafka_mock_set_controller_id(self.mcluster, 1)
        self.broker_count = brokers
        self.lock = threading.Lock()
        self.down = set()
        self.rtt = {}
        self.coordinators = {}
        self.leaders_moved = {}
        self.injected = []          # every /errors request, in order
        self.trimmed = {}           # "topic/partition" -> log start offset when last seen
        self.topics = {}

    def error_code(self, name):
        code = self.errors.get(ERROR_ALIASES.get(name, name)) if isinstance(name, str) else None
        if code is None:
            raise ValueError(f"unknown error {name!r}; e.g. NOT_COORDINATOR, REQUEST_TIMED_OUT, NOT_LEADER_OR_FOLLOWER")
        return code

    def broker_id(self, value):
        broker = int(value)
        if not 1 <= broker <= self.broker_count:
            raise ValueError(f"broker {broker}: the brokers are 1..{self.broker_count}")
        return broker

    def create_topic(self, name, partitions):
        partitions = int(partitions)
        if not name or partitions < 1:
            raise ValueError("a topic needs a name and at least 1 partition")
        err = self.lib.rd_kafka_mock_topic_create(self.mcluster, name.encode(), partitions, min(3, self.broker_count))
        if err and err != self.errors.get("TOPIC_ALREADY_EXISTS"):
            raise ValueError(f"creating {name}: error {err}")
        with self.lock:
            self.topics.setdefault(name, partitions)
        return {"topic": name, "partitions": partitions}

    def set_down(self, broker, down):
        broker = self.broker_id(broker)
        fn = self.lib.rd_kafka_mock_broker_set_down if down else self.lib.rd_kafka_mock_broker_set_up
        fn(self.mcluster, broker)
        with self.lock:
            (self.down.add if down else self.down.discard)(broker)
        return {"broker": broker, "up": not down}

    def set_rtt(self, broker, ms):
        broker, ms = self.broker_id(broker), int(ms)
        self.lib.rd_kafka_mock_broker_set_rtt(self.mcluster, broker, ms)
        with self.lock:
            self.rtt[broker] = ms
        return {"broker": broker, "rtt_ms": ms}

    def push_errors(self, api, errors, broker=None, rtt_ms=0):
        if api not in API_KEYS:
            raise ValueError(f"unknown api {api!r}; one of {', '.join(API_KEYS)}")
        if not errors:
            raise ValueError("errors: give at least one error name")
        codes = [self.error_code(name) for name in errors]
        if broker is None:
            array = (ctypes.c_int * len(codes))(*codes)
            self.lib.rd_kafka_mock_push_request_errors_array(self.mcluster, API_KEYS[api], len(codes), array)
        else:
            broker = self.broker_id(broker)
            pairs = []
            for code in codes:
                pairs += [ctypes.c_int(code), ctypes.c_int(int(rtt_ms))]
            err = self.lib.rd_kafka_mock_broker_push_request_error_rtts(
                ctypes.c_void_p(self.mcluster), ctypes.c_int32(broker), ctypes.c_int16(API_KEYS[api]),
                ctypes.c_size_t(len(codes)), *pairs)
            if err:
                raise ValueError(f"pushing errors on broker {broker}: error {err}")
        entry = {"api": api, "errors": errors, "broker": broker, "rtt_ms": int(rtt_ms), "at": time.time()}
        with self.lock:
            self.injected.append(entry)
        return entry

    def clear_errors(self, api):
        if api not in API_KEYS:
            raise ValueError(f"unknown api {api!r}")
        self.lib.rd_kafka_mock_clear_request_errors(self.mcluster, API_KEYS[api])
        return {"api": api, "cleared": True}

    def set_leader(self, topic, partition, broker):
        broker = self.broker_id(broker)
        err = self.lib.rd_kafka_mock_partition_set_leader(self.mcluster, topic.encode(), int(partition), broker)
        if err:
            raise ValueError(f"moving the leader of {topic}/{partition}: error {err}")
        with self.lock:
            self.leaders_moved[f"{topic}/{partition}"] = broker
        return {"topic": topic, "partition": int(partition), "leader": broker}

    def set_coordinator(self, kind, key, broker):
        if kind not in ("group", "transaction"):
            raise ValueError("type: group or transaction")
        broker = self.broker_id(broker)
        err = self.lib.rd_kafka_mock_coordinator_set(self.mcluster, kind.encode(), key.encode(), broker)
        if err:
            raise ValueError(f"setting the {kind} coordinator of {key}: error {err}")
        with self.lock:
            self.coordinators[f"{kind}:{key}"] = broker
        return {"type": kind, "key": key, "broker": broker}

    def set_rebalance_delay(self, ms):
        self.lib.rd_kafka_mock_group_initial_rebalance_delay_ms(self.mcluster, int(ms))
        return {"initial_rebalance_delay_ms": int(ms)}

    def describe_topics(self):
        """Leaders and watermarks of every topic, read over the wire like any client."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        metadata = admin.list_topics(timeout=5)
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "mock-cluster-status",
                             "enable.auto.commit": False})
        topics = {}
        try:
            for name, topic in sorted(metadata.topics.items()):
                if topic.error is not None:
                    topics[name] = {"error": str(topic.error)}
                    continue
                partitions = {}
                for pid, part in sorted(topic.partitions.items()):
                    entry = {"leader": part.leader}
                    if part.leader in self.down or part.leader < 0:
                        entry["error"] = "leader down"
                        partitions[pid] = entry
                        continue
                    try:
                        low, high = consumer.get_watermark_offsets(TopicPartition(name, pid), timeout=2)
                        entry.update(low=low, high=high)
                    except Exception as error:  # the leader may be down: say so, keep going
                        entry["error"] = str(error)
                    partitions[pid] = entry
                topics[name] = {"partitions": partitions}
        finally:
            consumer.close()
        return topics

    def status(self):
        try:
            topics = self.describe_topics()
        except Exception as error:
            topics = {"error": str(error)}
        with self.lock:
            return {
                "bootstrap": self.bootstrap, "librdkafka": confluent_kafka.libversion()[0],
                "brokers": {b: {"up": b not in self.down, "rtt_ms": self.rtt.get(b, 0)} for b in range(1, self.broker_count + 1)},
                "coordinators": dict(self.coordinators), "leaders_moved": dict(self.leaders_moved),
                "errors_injected": list(self.injected), "trimmed": dict(self.trimmed),
                "log_limits": {"bytes": MOCK_PARTITION_MAX_BYTES, "batches": MOCK_PARTITION_MAX_BATCHES},
                "topics": topics,
            }

    def watch_trims(self, interval):
        """Logs every partition whose log start moved past 0: the mock dropped its oldest
        batches (a warning once per new log start)."""
        while True:
            time.sleep(interval)
            try:
                topics = self.describe_topics()
            except Exception as error:
                log(f"trim check failed: {error}")
                continue
            for name, topic in topics.items():
                for pid, part in topic.get("partitions", {}).items():
                    low, key = part.get("low", 0), f"{name}/{pid}"
                    if low > 0 and self.trimmed.get(key) != low:
                        with self.lock:
                            self.trimmed[key] = low
                        log(f"WARNING: partition {key} trimmed by the mock's log limits: its first {low} "
                            f"offsets are gone (limits {MOCK_PARTITION_MAX_BYTES} bytes / {MOCK_PARTITION_MAX_BATCHES} batches)")


def make_handler(cluster):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            pass

        def answer(self, code, body):
            data = json.dumps(body, indent=1, default=str).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/status":
                self.answer(200, cluster.status())
            else:
                self.answer(404, {"error": f"no such path {self.path}"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                parts = self.path.strip("/").split("/")
                if parts == ["topics"]:
                    result = cluster.create_topic(body.get("name", ""), body.get("partitions", 4))
                elif len(parts) == 3 and parts[0] == "broker" and parts[2] in ("down", "up"):
                    result = cluster.set_down(parts[1], parts[2] == "down")
                elif len(parts) == 3 and parts[0] == "broker" and parts[2] == "rtt":
                    result = cluster.set_rtt(parts[1], body.get("ms", 0))
                elif parts == ["errors"]:
                    result = cluster.push_errors(body.get("api"), body.get("errors"), body.get("broker"), body.get("rtt_ms", 0))
                elif parts == ["errors", "clear"]:
                    result = cluster.clear_errors(body.get("api"))
                elif parts == ["leader"]:
                    result = cluster.set_leader(body["topic"], body["partition"], body["broker"])
                elif parts == ["coordinator"]:
                    result = cluster.set_coordinator(body.get("type", "group"), body["key"], body["broker"])
                elif parts == ["rebalance-delay"]:
                    result = cluster.set_rebalance_delay(body.get("ms", 0))
                else:
                    return self.answer(404, {"error": f"no such path {self.path}"})
            except (ValueError, KeyError, TypeError) as error:
                return self.answer(400, {"error": str(error) if not isinstance(error, KeyError) else f"missing {error}"})
            log(f"{self.path} {json.dumps(body)} -> {json.dumps(result, default=str)}")
            self.answer(200, result)

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--state", required=True, help="directory for the bootstrap and control files")
    parser.add_argument("--brokers", type=int, default=3)
    parser.add_argument("--topic", action="append", default=[], metavar="NAME:PARTITIONS")
    parser.add_argument("--control-port", type=int, default=0, help="loopback port of the control interface (default: free)")
    parser.add_argument("--trim-check", type=float, default=5.0, help="seconds between log-start checks")
    args = parser.parse_args()

    cluster = MockCluster(args.brokers)
    for spec in args.topic:
        name, _, partitions = spec.partition(":")
        cluster.create_topic(name, partitions or 4)
    server = ThreadingHTTPServer(("127.0.0.1", args.control_port), make_handler(cluster))
    control = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=cluster.watch_trims, args=(args.trim_check,), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    os.makedirs(args.state, exist_ok=True)
    with open(os.path.join(args.state, "control"), "w") as f:
        f.write(control + "\n")
    with open(os.path.join(args.state, "bootstrap"), "w") as f:
        f.write(cluster.bootstrap + "\n")
    log(f"librdkafka {confluent_kafka.libversion()[0]}, {args.brokers} brokers at {cluster.bootstrap}, control {control}")
    server.serve_forever()
    log("stopping")
    # Leave without rd_kafka_destroy: the process ends, and with it the mock brokers.
    os._exit(0)


if __name__ == "__main__":
    main()
