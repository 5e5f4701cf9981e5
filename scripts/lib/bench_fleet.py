"""The measuring side of scripts/bench-fleet: independent breakers against fleet breakers.

  bench_fleet.py --binary BREAKWATER --bootstrap B --ml-url URL --state DIR
                 [--workers 3,9] [--outage S] [--open-duration S] [--rate-per-worker N]

For each worker count, two runs on fresh topics (`independent`: fleet.enabled=false;
`fleet`: the defaults), the same in all else:
  - N worker processes, each with its own path to the model server: a port of the fault
    proxy below (per-worker ports, so one worker's path can be cut alone). Each has two
    input partitions, so every worker sees alerts.
  - N x rate-per-worker alerts a second (single Alertmanager alerts) for the whole run.
  - warm-up until every worker published incidents classified by the model; then the
    model server is "dead" for --outage seconds: the proxy answers every infer request
    503 at once (a failing call that reached it); then it is back.
Measured per run: the infer requests that reached the dead server (all workers), the
workers that probed after its return (went open -> half-open after it), and the time
from its return until every worker's ml breaker was closed (polled every 100 ms).
Then the poisoned-path scenario: 3 fleet workers, only worker 0's path cut for the
outage's length: the others' breakers must stay closed and keep classifying with the
model. Writes DIR/fleet.json and prints the report with the issue's targets.
"""
import argparse
import json
import os
import random
import re
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http.client
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_adaptive import scrape as scrape_url, total, warm  # noqa: E402


class FaultProxy:
    """One listening port per worker in front of the model server. A port that is `down`
    answers every POST 503 at once and counts it; GETs pass through."""

    def __init__(self, upstream, ports):
        self.upstream = urllib.parse.urlsplit(upstream)
        self.lock = threading.Lock()
        self.down = [False] * len(ports)
        self.posts = []  # (time, worker index, answered while down)
        self.servers = []
        for index, port in enumerate(ports):
            server = ThreadingHTTPServer(("127.0.0.1", port), self.handler(index))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers.append(server)

    def handler(self, index):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_):
                pass

            upstream_connection = None

            def exchange(self, body):
                # One upstream connection per worker connection, kept alive: a new one per
                # request was a connection churn the model server paid for.
                if self.upstream_connection is None:
                    self.upstream_connection = http.client.HTTPConnection(
                        proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                headers = {"content-type": self.headers.get("content-type", "application/json")}
                self.upstream_connection.request(self.command, self.path, body=body, headers=headers)
                response = self.upstream_connection.getresponse()
                return response.status, response.getheader("content-type", "application/json"), response.read()

            def forward(self, body):
                try:
                    status, content_type, payload = self.exchange(body)
                except (http.client.HTTPException, OSError):
                    self.upstream_connection.close()
                    self.upstream_connection = None
                    status, content_type, payload = self.exchange(body)
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self):
                self.forward(None)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with proxy.lock:
                    down = proxy.down[index]
                    proxy.posts.append((time.time(), index, down))
                if down:
                    payload = b'{"error":"model server down (bench-fleet)"}'
                    self.send_response(503)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self.forward(body)

        return Handler

    def set_down(self, indices, down):
        with self.lock:
            for index in indices:
                self.down[index] = down

    def requests(self, since, until=None, down=None):
        with self.lock:
            return [(t, i, d) for t, i, d in self.posts if t >= since and (until is None or t < until)
                    and (down is None or d == down)]

    def close(self):
        for server in self.servers:
            server.shutdown()
            server.server_close()


def prioritize():
    """This process (the proxy, the load generator) at nice -10, like the model server: its
    threads, all started later, inherit it. BREAKWATER_BENCH_PRIORITIZE=0: not."""
    if os.environ.get("BREAKWATER_BENCH_PRIORITIZE", "1") != "0":
        try:
            os.setpriority(os.PRIO_PROCESS, 0, -10)
        except OSError:
            pass


def normal_priority():
    """The workers run at the default priority, as everything else in the benchmark."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    except OSError:
        pass


def free_port():
    """A free port below Linux's ephemeral range (32768-60999): a worker binds its HTTP port
    seconds after it was chosen, and an ephemeral port could meanwhile be the local end of
    one of the many connections nine workers open (one run lost a worker to EADDRINUSE)."""
    import socket
    while True:
        port = random.SystemRandom().randrange(20000, 32000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def scrape(port):
    return scrape_url("http://127.0.0.1:%d/metrics" % port)


def state_of(text):
    match = re.search(r'^circuit_breaker_state\{[^}]*breaker="ml"[^}]*\} (\S+)', text, re.M)
    return float(match.group(1)) if match else None


def half_opens(text):
    return total(text, "circuit_breaker_transitions_total", breaker="ml", to="half_open")


def ml_incidents(text):
    return total(text, "breakwater_incidents_total", classifier="ml")


class Producer(threading.Thread):
    """Single Alertmanager alerts at a fixed rate until stopped."""

    def __init__(self, bootstrap, topic, rate):
        super().__init__(daemon=True)
        from confluent_kafka import Producer as KafkaProducer
        self.producer = KafkaProducer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        self.topic, self.rate, self.stop = topic, rate, threading.Event()
        self.sent = 0

    def run(self):
        started = time.time()
        random.seed(11)
        while not self.stop.is_set():
            due = started + self.sent / self.rate
            pause = due - time.time()
            if pause > 0:
                time.sleep(pause)
            index = self.sent
            fingerprint = "%016x" % random.getrandbits(64)
            alert = {"status": "firing",
                     "labels": {"alertname": "HighLatency", "service": "svc-%d" % (index % 50),
                                "severity": ["critical", "error", "warning", "info"][index % 4],
                                "instance": "10.2.%d.%d:9100" % (index % 250, index % 200)},
                     "annotations": {"summary": "latency over threshold on svc-%d" % (index % 50),
                                     "description": "p99 %d ms over its threshold." % random.randint(300, 900)},
                     "startsAt": "2026-12-06T10:00:00Z", "fingerprint": fingerprint}
            self.producer.produce(self.topic, key=fingerprint, value=json.dumps(alert, separators=(",", ":")))
            self.producer.poll(0)
            self.sent += 1
        self.producer.flush(10)


class Fleet:
    """N worker processes behind one FaultProxy."""

    def __init__(self, args, name, count, fleet_enabled):
        self.args, self.name, self.count = args, name, count
        run_id = "%s-%d" % (name, int(time.time()))
        self.topics = {key: "%s-%s" % (run_id, key) for key in ("alerts", "incidents", "fallbacks", "dlq", "breakers")}
        self.proxy_ports = [free_port() for _ in range(count)]
        self.http_ports = [free_port() for _ in range(count)]
        self.proxy = FaultProxy(args.ml_url, self.proxy_ports)
        self.processes = []
        environment = {key: value for key, value in os.environ.items() if not key.startswith("BREAKWATER_")}
        for index in range(count):
            env = dict(environment)
            env.update({
                "BREAKWATER_KAFKA_BOOTSTRAP_SERVERS": args.bootstrap, "BREAKWATER_KAFKA_GROUP_ID": run_id,
                "BREAKWATER_TOPICS_ALERTS": self.topics["alerts"], "BREAKWATER_TOPICS_CLASSIFIED": self.topics["incidents"],
                "BREAKWATER_TOPICS_FALLBACK_EVENTS": self.topics["fallbacks"], "BREAKWATER_TOPICS_DEAD_LETTER": self.topics["dlq"],
                "BREAKWATER_TOPICS_BREAKER_STATE": self.topics["breakers"], "BREAKWATER_TOPICS_PARTITIONS": str(2 * count),
                "BREAKWATER_PIPELINE_WORKER_ID": "%s-w%d" % (name, index), "BREAKWATER_LOGGING_LEVEL": "notice",
                "BREAKWATER_HTTP_PORT": str(self.http_ports[index]),
                "BREAKWATER_ML_URL": "http://127.0.0.1:%d" % self.proxy_ports[index], "BREAKWATER_DEDUP_ENABLED": "false",
                "BREAKWATER_CATALOG_POSTGRES_URL": "postgres://bench:bench@127.0.0.1:1/none",
                # No PostgreSQL: healing would repair every static enrichment, which is not
                # what this measures (and its figures are from before healing).
                "BREAKWATER_HEAL_ENABLED": "false",
                "BREAKWATER_FLEET_ENABLED": "true" if fleet_enabled else "false",
                "BREAKWATER_BREAKERS_ML_OPEN_DURATION": "%ds" % args.open_duration,
            })
            log = open(os.path.join(args.state, "%s-w%d.log" % (name, index)), "w")
            self.processes.append(subprocess.Popen(
                [args.binary, "run", "--set", "kafka.idleFetchBackoff=200ms"], env=env, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=normal_priority))

    def metrics(self):
        return [scrape(port) for port in self.http_ports]

    def wait_ready(self, fleet_enabled, limit=180):
        deadline = time.time() + limit
        while time.time() < deadline:
            texts = self.metrics()
            ready = all(total(text, "breakwater_ready") == 1 for text in texts)
            formed = not fleet_enabled or all(
                total(text, "breakwater_fleet_workers") == self.count and total(text, "breakwater_fleet_local_only") == 0
                for text in texts)
            if ready and formed:
                return
            for process in self.processes:
                if process.poll() is not None:
                    raise SystemExit("bench-fleet: %s: a worker exited; see %s" % (self.name, self.args.state))
            time.sleep(0.5)
        raise SystemExit("bench-fleet: %s: the workers were not ready%s within %d s" %
                         (self.name, " and formed one fleet" if fleet_enabled else "", limit))

    def wait_all_closed(self, limit=120):
        """Until every worker's ml breaker is closed (a stall of the model server during
        the warm-up may have opened them)."""
        deadline = time.time() + limit
        while time.time() < deadline:
            if all(state_of(text) == 0 for text in self.metrics()):
                return
            time.sleep(0.2)
        raise SystemExit("bench-fleet: %s: the ml breakers did not all close within %d s" % (self.name, limit))

    def wait_all_classifying(self, limit=120):
        """Until every worker published incidents the model classified (each has partitions)
        and every ml breaker is closed."""
        start = [ml_incidents(text) for text in self.metrics()]
        deadline = time.time() + limit
        while time.time() < deadline:
            now = [ml_incidents(text) for text in self.metrics()]
            if all(after > before for before, after in zip(start, now)):
                self.wait_all_closed()
                return
            time.sleep(0.5)
        raise SystemExit("bench-fleet: %s: not every worker classified with the model within %d s" % (self.name, limit))

    def save_metrics(self):
        for index, text in enumerate(self.metrics()):
            with open(os.path.join(self.args.state, "%s-w%d.metrics.txt" % (self.name, index)), "w") as out:
                out.write(text)

    def stop(self):
        self.save_metrics()
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        self.proxy.close()


def outage_run(args, count, fleet_enabled):
    name = "%s%d" % ("fleet" if fleet_enabled else "independent", count)
    fleet = Fleet(args, name, count, fleet_enabled)
    producer = None
    try:
        fleet.wait_ready(fleet_enabled)
        producer = Producer(args.bootstrap, fleet.topics["alerts"], args.rate_per_worker * count)
        producer.start()
        fleet.wait_all_classifying()
        time.sleep(2)
        everyone = range(count)
        # A run whose breakers were not all closed when the outage began measures nothing.
        open_at_start = sum(1 for text in fleet.metrics() if state_of(text) != 0)
        outage_started = time.time()
        fleet.proxy.set_down(everyone, True)
        time.sleep(args.outage)
        before = [half_opens(text) for text in fleet.metrics()]
        recovered = time.time()
        fleet.proxy.set_down(everyone, False)
        closed_after = None
        deadline = recovered + 3 * args.open_duration + 60
        while time.time() < deadline:
            states = [state_of(text) for text in fleet.metrics()]
            if all(state == 0 for state in states):
                closed_after = time.time() - recovered
                break
            time.sleep(0.1)
        after = [half_opens(text) for text in fleet.metrics()]
        failing = fleet.proxy.requests(outage_started, recovered, down=True)
        per_worker = [sum(1 for _, index, _ in failing if index == worker) for worker in everyone]
        probes = fleet.proxy.requests(recovered, recovered + (closed_after or 0) + 0.001)
        return {
            "name": name, "workers": count, "fleet": fleet_enabled, "failing_calls": len(failing),
            "failing_calls_by_worker": per_worker,
            "probing_workers": sum(1 for b, a in zip(before, after) if a > b),
            "requests_until_closed": len(probes),
            "closed_after_seconds": closed_after, "alerts_sent": producer.sent,
            "open_at_outage_start": open_at_start,
        }
    finally:
        if producer:
            producer.stop.set()
            producer.join()
        fleet.stop()


def poisoned_run(args):
    """3 fleet workers; only worker 0's path is cut."""
    fleet = Fleet(args, "poisoned3", 3, True)
    producer = None
    try:
        fleet.wait_ready(True)
        producer = Producer(args.bootstrap, fleet.topics["alerts"], args.rate_per_worker * 3)
        producer.start()
        fleet.wait_all_classifying()
        time.sleep(2)
        start_incidents = [ml_incidents(text) for text in fleet.metrics()]
        fleet.proxy.set_down([0], True)
        cut_started = time.time()
        others_states = set()
        cut_state = set()
        while time.time() < cut_started + args.outage:
            texts = fleet.metrics()
            cut_state.add(state_of(texts[0]))
            others_states.update(state_of(text) for text in texts[1:])
            time.sleep(0.2)
        end_incidents = [ml_incidents(text) for text in fleet.metrics()]
        fleet.proxy.set_down([0], False)
        return {
            "name": "poisoned3", "cut_worker_states": sorted(s for s in cut_state if s is not None),
            "other_workers_states": sorted(s for s in others_states if s is not None),
            "ml_incidents_during_cut": [end - start for start, end in zip(start_incidents, end_incidents)],
            "seconds": args.outage,
        }
    finally:
        if producer:
            producer.stop.set()
            producer.join()
        fleet.stop()


def report(results, args):
    print()
    print("bench-fleet: ML outage of %d s, breaker open duration %d s, %d alerts/s per worker"
          % (args.outage, args.open_duration, args.rate_per_worker))
    print("%-14s %8s %14s %16s %22s %18s" % ("run", "workers", "failing calls", "probing workers",
                                            "requests until closed", "all closed after"))
    runs = {run["name"]: run for run in results["outage"]}
    for run in results["outage"]:
        closed = "%.1f s" % run["closed_after_seconds"] if run["closed_after_seconds"] is not None else "never"
        print("%-14s %8d %14d %16d %22d %18s%s" % (run["name"], run["workers"], run["failing_calls"], run["probing_workers"],
                                                    run["requests_until_closed"], closed,
                                                    "  INVALID: %d breakers open when the outage began" % run["open_at_outage_start"]
                                                    if run["open_at_outage_start"] else ""))
    print()
    heartbeat = 2.0
    for count, target in ((3, 1 / 3), (9, 1 / 6)):
        fleet, independent = runs.get("fleet%d" % count), runs.get("independent%d" % count)
        if not fleet or not independent:
            continue
        ratio = fleet["failing_calls"] / independent["failing_calls"] if independent["failing_calls"] else float("nan")
        print("%d workers: failing calls fleet/independent = %d/%d = %.2fx (target <= %.2fx): %s"
              % (count, fleet["failing_calls"], independent["failing_calls"], ratio, target,
                 "met" if ratio <= target else "NOT met"))
        print("%d workers: probing workers at recovery = %d (target: the prober count, 1; independent: %d): %s"
              % (count, fleet["probing_workers"], independent["probing_workers"],
                 "met" if fleet["probing_workers"] == 1 else "NOT met"))
        limit = args.open_duration + 2 * heartbeat
        closed = fleet["closed_after_seconds"]
        print("%d workers: all closed %s after the return (target <= open duration + 2 heartbeats = %.0f s): %s"
              % (count, "%.1f s" % closed if closed is not None else "never", limit,
                 "met" if closed is not None and closed <= limit else "NOT met"))
    poisoned = results.get("poisoned")
    if poisoned:
        kept = poisoned["other_workers_states"] == [0.0] and all(n > 0 for n in poisoned["ml_incidents_during_cut"][1:])
        print("poisoned path (3 workers, worker 0's path cut for %d s): worker 0's ml breaker states %s; the others' %s; "
              "incidents classified by the model during the cut %s: %s"
              % (poisoned["seconds"], poisoned["cut_worker_states"], poisoned["other_workers_states"],
                 [int(n) for n in poisoned["ml_incidents_during_cut"]], "met" if kept else "NOT met"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--ml-url", required=True)
    parser.add_argument("--state", required=True)
    parser.add_argument("--workers", default="3,9")
    parser.add_argument("--outage", type=int, default=60)
    parser.add_argument("--open-duration", type=int, default=10)
    parser.add_argument("--rate-per-worker", type=int, default=10)
    parser.add_argument("--skip-poisoned", action="store_true")
    args = parser.parse_args()
    results = {"outage": []}
    prioritize()
    # The model server answers its first requests slowly (each of its processes loads the
    # model): warm it, or the first seconds of a run time out on every worker at once.
    warm(args.ml_url)
    for count in [int(n) for n in args.workers.split(",") if n]:
        for fleet_enabled in (False, True):
            run = outage_run(args, count, fleet_enabled)
            print("bench-fleet: %s done: %s" % (run["name"], json.dumps(run)), flush=True)
            results["outage"].append(run)
    if not args.skip_poisoned:
        results["poisoned"] = poisoned_run(args)
        print("bench-fleet: poisoned3 done: %s" % json.dumps(results["poisoned"]), flush=True)
    with open(os.path.join(args.state, "fleet.json"), "w") as out:
        json.dump(results, out, indent=1)
    report(results, args)


if __name__ == "__main__":
    main()
