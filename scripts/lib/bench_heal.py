"""The measuring side of scripts/bench-heal: live throughput with the healer at work
against without it, side by side in one worker's run.

  bench_heal.py --binary BREAKWATER --bootstrap B --ml-url URL --state DIR
                [--live N] [--outage-alerts N] [--heal-rate R]

One `breakwater run` process on fresh topics, the model server behind a fault proxy (its
infer requests answered 503 while "down"); no PostgreSQL (the static catalog enriches, as
a final answer: `heal.enrichment=false`), dedup off. In order:
  1. warm-up until the worker classifies with the model;
  2. baseline A: N live alerts produced at once; the time until the worker consumed them
     all with nothing in flight is the live drain; throughput = N / that time;
  3. the outage: the model server down, M alerts (rules classify them: M provisional
     incidents and M repair records; the healer waits on the open breaker); back up, a
     trickle until the ml breaker is closed;
  4. with healing: N live alerts at once while the healer works through the M repairs;
  5. the rest of the heals, timed (heals/s against heal.ratePerSecond);
  6. baseline B (the healer idle); the baseline is the mean of A and B;
  7. every incident and repair read back: every provisional incident has a revision 2
     classified by `ml`, none has a revision 3.
Writes DIR/heal.json and prints the report with the issue's targets.
"""
import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_adaptive import total, warm  # noqa: E402
from bench_fleet import FaultProxy, free_port, normal_priority, prioritize, scrape  # noqa: E402


def alert(index, run):
    rng = random.Random(index)
    fingerprint = "%s-%08d" % (run, index)
    return fingerprint, json.dumps({
        "status": "firing", "fingerprint": fingerprint, "startsAt": "2026-12-07T10:00:00Z",
        "labels": {"alertname": ["HighLatency", "ServiceDown", "DiskSpaceLow", "HighErrorRate"][index % 4],
                   "service": "svc-%d" % (index % 50), "severity": ["critical", "error", "warning", "info"][index % 4],
                   "instance": "10.2.%d.%d:9100" % (index % 250, index % 200)},
        "annotations": {"summary": "p99 %d ms over its threshold on svc-%d" % (rng.randint(300, 900), index % 50)},
    }, separators=(",", ":"))


class Worker:
    def __init__(self, args):
        self.args = args
        run = "heal-%d" % int(time.time())
        self.run = run
        self.topics = {key: "%s-%s" % (run, key) for key in ("alerts", "incidents", "fallbacks", "dlq", "repair")}
        self.proxy_port, self.http_port = free_port(), free_port()
        self.proxy = FaultProxy(args.ml_url, [self.proxy_port])
        env = {key: value for key, value in os.environ.items() if not key.startswith("BREAKWATER_")}
        env.update({
            "BREAKWATER_KAFKA_BOOTSTRAP_SERVERS": args.bootstrap, "BREAKWATER_KAFKA_GROUP_ID": run,
            "BREAKWATER_TOPICS_ALERTS": self.topics["alerts"], "BREAKWATER_TOPICS_CLASSIFIED": self.topics["incidents"],
            "BREAKWATER_TOPICS_FALLBACK_EVENTS": self.topics["fallbacks"], "BREAKWATER_TOPICS_DEAD_LETTER": self.topics["dlq"],
            "BREAKWATER_TOPICS_REPAIR": self.topics["repair"], "BREAKWATER_TOPICS_PARTITIONS": "4",
            "BREAKWATER_PIPELINE_WORKER_ID": "bench-heal", "BREAKWATER_LOGGING_LEVEL": "notice",
            "BREAKWATER_HTTP_PORT": str(self.http_port), "BREAKWATER_ML_URL": "http://127.0.0.1:%d" % self.proxy_port,
            "BREAKWATER_DEDUP_ENABLED": "false", "BREAKWATER_CATALOG_POSTGRES_URL": "postgres://bench:bench@127.0.0.1:1/none",
            "BREAKWATER_FLEET_ENABLED": "false", "BREAKWATER_BREAKERS_ML_OPEN_DURATION": "5s",
            "BREAKWATER_HEAL_ENRICHMENT": "false", "BREAKWATER_HEAL_RATE_PER_SECOND": str(args.heal_rate),
        })
        self.log = open(os.path.join(args.state, "worker.log"), "w")
        self.process = subprocess.Popen([args.binary, "run", "--set", "kafka.idleFetchBackoff=50ms"], env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=normal_priority)
        from confluent_kafka import Producer
        self.producer = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 5, "queue.buffering.max.messages": 1000000})
        self.sent = 0

    def metrics(self):
        if self.process.poll() is not None:
            raise SystemExit("bench-heal: the worker exited; see %s/worker.log" % self.args.state)
        return scrape(self.http_port)

    def consumed(self, text):
        return total(text, "breakwater_records_consumed_total", topic=self.topics["alerts"])

    def produce(self, count):
        for _ in range(count):
            key, value = alert(self.sent, self.run)
            while True:
                try:
                    self.producer.produce(self.topics["alerts"], key=key, value=value)
                    break
                except BufferError:
                    self.producer.poll(0.01)
            self.sent += 1
        self.producer.flush(60)

    def wait_drained(self, limit=600):
        """Until the worker consumed everything sent and has nothing in flight; returns the time."""
        deadline = time.time() + limit
        while time.time() < deadline:
            text = self.metrics()
            if self.consumed(text) >= self.sent and total(text, "breakwater_in_flight") == 0:
                return time.time()
            time.sleep(0.05)
        raise SystemExit("bench-heal: the worker did not drain within %d s" % limit)

    def ml_state(self):
        for line in self.metrics().splitlines():
            if line.startswith("circuit_breaker_state{") and 'breaker="ml"' in line:
                return float(line.rsplit(" ", 1)[1])
        return None

    def live_drain(self, count):
        """N alerts at once; seconds from the first send until consumed with nothing in flight."""
        started = time.time()
        self.produce(count)
        return self.wait_drained() - started

    def heal_counts(self):
        text = self.metrics()
        return total(text, "breakwater_heal_healed_total"), total(text, "breakwater_heal_pending")

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.proxy.close()


def read_back(args, worker):
    """Every incident and repair record of the run: revisions per incident id."""
    from confluent_kafka import Consumer
    consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": worker.run + "-check",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, "isolation.level": "read_committed",
                         # The local broker answers a fetch with up to all it has.
                         "receive.message.max.bytes": 1000000000})
    consumer.subscribe([worker.topics["incidents"], worker.topics["repair"]])
    revisions, classifiers, models, repairs = collections.defaultdict(list), {}, {}, set()
    idle_since = time.time()
    while time.time() - idle_since < 10:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        idle_since = time.time()
        record = json.loads(message.value())
        if message.topic() == worker.topics["repair"]:
            repairs.add(record["incident_id"])
        else:
            revisions[record["incident_id"]].append(record.get("revision", 1))
            key = (record["incident_id"], record.get("revision", 1))
            classifiers[key] = record["classification"]["classifier"]
            models[key] = record["provenance"]["classification"].get("model") is not None
    consumer.close()
    return revisions, classifiers, models, repairs


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--ml-url", required=True)
    parser.add_argument("--state", required=True)
    parser.add_argument("--live", type=int, default=20000)
    parser.add_argument("--outage-alerts", type=int, default=6000)
    parser.add_argument("--heal-rate", type=float, default=200)
    args = parser.parse_args()
    prioritize()
    warm(args.ml_url)
    worker = Worker(args)
    result = {"live": args.live, "outage_alerts": args.outage_alerts, "heal_rate": args.heal_rate}
    try:
        deadline = time.time() + 180
        while total(worker.metrics(), "breakwater_ready") != 1:
            if time.time() > deadline:
                raise SystemExit("bench-heal: the worker was not ready within 180 s")
            time.sleep(0.5)
        # Warm-up: the model classifies and the breaker is closed.
        worker.produce(2000)
        worker.wait_drained()
        while total(worker.metrics(), "breakwater_incidents_total", classifier="ml") == 0 or worker.ml_state() != 0:
            worker.produce(50)
            worker.wait_drained()
            time.sleep(0.5)

        result["baseline_a_seconds"] = worker.live_drain(args.live)
        print("baseline A: %d live alerts in %.2f s" % (args.live, result["baseline_a_seconds"]), file=sys.stderr)

        worker.proxy.set_down([0], True)
        worker.produce(args.outage_alerts)
        worker.wait_drained()
        worker.proxy.set_down([0], False)
        healed_before, _ = worker.heal_counts()
        deadline = time.time() + 120
        while worker.ml_state() != 0:  # live traffic probes the breaker after its open duration
            if time.time() > deadline:
                raise SystemExit("bench-heal: the ml breaker did not close after the outage")
            worker.produce(20)
            time.sleep(0.5)
        healed_at_start, pending_at_start = worker.heal_counts()
        result["pending_when_healing_began"] = pending_at_start
        result["with_healing_seconds"] = worker.live_drain(args.live)
        healed_during, _ = worker.heal_counts()
        result["healed_during_live_drain"] = healed_during - healed_at_start
        print("with healing: %d live alerts in %.2f s, %d heals meanwhile (%d pending when it began)" % (
            args.live, result["with_healing_seconds"], result["healed_during_live_drain"], pending_at_start), file=sys.stderr)

        started = time.time()
        rest_start = healed_during
        deadline = started + 600
        while True:
            healed, pending = worker.heal_counts()
            if pending == 0 and healed - healed_before >= args.outage_alerts:
                break
            if time.time() > deadline:
                raise SystemExit("bench-heal: heals still pending after 600 s (%d)" % pending)
            time.sleep(0.1)
        result["rest_healed"] = healed - rest_start
        result["rest_seconds"] = time.time() - started
        print("the rest: %d heals in %.2f s" % (result["rest_healed"], result["rest_seconds"]), file=sys.stderr)

        result["baseline_b_seconds"] = worker.live_drain(args.live)
        print("baseline B: %d live alerts in %.2f s" % (args.live, result["baseline_b_seconds"]), file=sys.stderr)

        revisions, classifiers, models, repairs = read_back(args, worker)
    finally:
        worker.stop()

    baseline = (result["baseline_a_seconds"] + result["baseline_b_seconds"]) / 2
    result["throughput_ratio"] = baseline / result["with_healing_seconds"]
    result["heal_rate_measured"] = result["rest_healed"] / result["rest_seconds"] if result["rest_seconds"] else 0
    healed_ids = {incident for incident, seen in revisions.items() if 2 in seen}
    result["repairs"] = len(repairs)
    result["repairs_with_revision_2"] = len(repairs & healed_ids)
    result["revision_2_by_ml"] = sum(1 for incident in healed_ids if classifiers.get((incident, 2)) == "ml")
    # The model answered every heal; below ml.minConfidence the policy publishes the rules'
    # verdict with the model's next to it (classifier rules, provenance.classification.model set).
    result["revision_2_model_answered"] = sum(1 for incident in healed_ids if models.get((incident, 2)))
    result["revision_3_or_more"] = sum(1 for seen in revisions.values() if max(seen) >= 3)
    with open(os.path.join(args.state, "heal.json"), "w") as out:
        json.dump(result, out, indent=2, sort_keys=True)
    print("\n==================== bench-heal ====================")
    print("live throughput, without healing: %.0f alerts/s (baseline A %.2f s, B %.2f s for %d)" % (
        args.live / baseline, result["baseline_a_seconds"], result["baseline_b_seconds"], args.live))
    print("live throughput, with healing:    %.0f alerts/s (%.2f s; %d heals meanwhile)" % (
        args.live / result["with_healing_seconds"], result["with_healing_seconds"], result["healed_during_live_drain"]))
    print("ratio: %.2fx (target >= 0.8x)" % result["throughput_ratio"])
    print("heals after the live drain: %.0f/s (heal.ratePerSecond %.0f)" % (result["heal_rate_measured"], args.heal_rate))
    print("repair records: %d; with a revision 2: %d; revision 2 answered by the model: %d (published as ml: %d, "
          "the rules' verdict by the confidence policy: %d); revision 3 or more: %d" % (
              result["repairs"], result["repairs_with_revision_2"], result["revision_2_model_answered"], result["revision_2_by_ml"],
              result["revision_2_model_answered"] - result["revision_2_by_ml"], result["revision_3_or_more"]))
    ok = (result["throughput_ratio"] >= 0.8 and result["repairs"] >= args.outage_alerts
          and result["repairs_with_revision_2"] == result["repairs"] and result["revision_2_model_answered"] == result["repairs"]
          and result["revision_3_or_more"] == 0)
    print("targets: %s" % ("MET" if ok else "NOT MET"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
