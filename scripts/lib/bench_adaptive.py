"""The measuring side of scripts/bench-adaptive.

  bench_adaptive.py run --bootstrap B --input TOPIC --incidents TOPIC --metrics URL
                        --rate N --seconds S --out FILE.json [--warm ML_URL]
      Warms the model server with 80 infer requests from 8 threads (with --warm), produces N mixed-severity single Alertmanager alerts a second for S seconds into
      the input topic (10% critical, 20% error/high, 30% warning/medium, 20% low, 20%
      info), samples the worker's /metrics every second meanwhile, then reads the
      incidents topic until every alert sent has its incident (at most 300 s more), and
      writes what it measured to FILE.json.
  bench_adaptive.py report BREAKER_ONLY.json ADAPTIVE.json
      Prints the comparison, the targets of the adaptive-protection issue, and the limit
      and throttle probability over time.

Latency of an alert: from its send to its incident's record timestamp (the worker's
producer sets it when it publishes), both on this machine's clock. An alert counts as
answered by the model when its incident says the model answered (classifier `ml`, or the
model's verdict kept in provenance because it was below ml.minConfidence).
"""
import json
import os
import random
import re
import sys
import threading
import time
import urllib.request

SEVERITIES = [("critical", 10), ("error", 20), ("warning", 30), ("low", 20), ("info", 20)]
# The source severity each label value maps to (Severity(sourceSeverity:)).
RANK = {"critical": "critical", "error": "high", "warning": "medium", "low": "low", "info": "info"}
NAMES = ["HighLatency", "DiskSpaceLow", "ServiceDown", "BruteForceLogin", "KubePodCrashLooping",
         "NodeFilesystemAlmostOutOfSpace", "TargetDown", "HighErrorRate", "CPUThrottlingHigh", "OOMKilled"]
SERVICES = ["checkout", "auth", "payments", "search", "inventory", "api-gateway"]
SAMPLED = {
    "limit": re.compile(r'^adaptive_concurrency_limit\{[^}]*breaker="ml"[^}]*\} (\S+)', re.M),
    "throttle": re.compile(r'^adaptive_throttle_probability\{[^}]*breaker="ml"[^}]*\} (\S+)', re.M),
    "state": re.compile(r'^circuit_breaker_state\{[^}]*breaker="ml"[^}]*\} (\S+)', re.M),
    "in_flight": re.compile(r"^breakwater_in_flight(?:\{[^}]*\})? (\S+)", re.M),
}


def scrape(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()
    except OSError:
        return ""


def total(text, metric, **labels):
    """Sum of a metric's samples whose labels include `labels`."""
    result = 0.0
    for line in text.splitlines():
        if not line.startswith(metric + "{") and not line.startswith(metric + " "):
            continue
        if all('%s="%s"' % item in line for item in labels.items()):
            result += float(line.rsplit(" ", 1)[1])
    return result


def warm(url):
    """Infer requests straight to the model server from 8 threads at once, so the first
    slow answers of each of its worker processes fall outside the measured run."""
    from concurrent.futures import ThreadPoolExecutor

    texts = ["%s on %s: warming up" % (name, service) for name in NAMES for service in SERVICES][:32]
    body = json.dumps({"inputs": [{"name": "alerts", "shape": [len(texts)], "datatype": "BYTES", "data": texts}]}).encode()

    def infer(_):
        request = urllib.request.Request(url.rstrip("/") + "/v2/models/alert-classifier/infer", data=body,
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(infer, range(80)))


def run(options):
    from confluent_kafka import Consumer, Producer

    rate, seconds = int(options["rate"]), int(options["seconds"])
    if options.get("warm"):
        warm(options["warm"])
    producer = Producer({"bootstrap.servers": options["bootstrap"], "linger.ms": 2, "acks": "all"})
    timeline, stop = [], threading.Event()
    started = time.time()

    def sample():
        while not stop.wait(1 - (time.time() - started) % 1):
            text = scrape(options["metrics"])
            point = {"t": round(time.time() - started)}
            for key, pattern in SAMPLED.items():
                match = pattern.search(text)
                point[key] = float(match.group(1)) if match else None
            point["timeouts"] = total(text, "circuit_breaker_calls_total", breaker="ml", outcome="timeout")
            timeline.append(point)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    random.seed(7)
    weighted = [name for name, weight in SEVERITIES for _ in range(weight)]
    sent = {}
    for index in range(rate * seconds):
        due = started + index / rate
        pause = due - time.time()
        if pause > 0:
            time.sleep(pause)
        severity = weighted[random.randrange(len(weighted))]
        name, service = NAMES[index % len(NAMES)], SERVICES[index % len(SERVICES)]
        fingerprint = "%016x" % random.getrandbits(64)
        alert = {"status": "firing",
                 "labels": {"alertname": name, "service": service, "severity": severity,
                            "instance": "10.1.%d.%d:9100" % (index % 250, index % 200)},
                 "annotations": {"summary": "%s on %s" % (name, service),
                                 "description": "%s fired for instance %d, %d%% over its threshold."
                                                % (name, index, random.randint(1, 99))},
                 "startsAt": "2026-12-05T10:00:00Z", "fingerprint": fingerprint}
        sent[fingerprint] = (time.time(), RANK[severity])
        producer.produce(options["input"], key=fingerprint, value=json.dumps(alert, separators=(",", ":")))
        producer.poll(0)
    producer.flush(60)
    load_seconds = time.time() - started

    consumer = Consumer({"bootstrap.servers": options["bootstrap"], "group.id": "bench-adaptive-%d" % random.getrandbits(32),
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         # The local broker ignores fetch limits and answers with all it has.
                         "receive.message.max.bytes": 1000000000})
    consumer.subscribe([options["incidents"]] + ([options["fallbacks"]] if options.get("fallbacks") else []))
    seen, deadline = {}, time.time() + 300
    incident_alert, ml_reason = {}, {}  # incident id -> fingerprint; incident id -> the ml fallback's reason
    drained_at = None
    while time.time() < deadline:
        messages = consumer.consume(1000, 1.0)
        if len(seen) >= len(sent):
            # Every incident is in: read on until the fallback events stop coming.
            if not messages and drained_at is not None and time.time() - drained_at > 2:
                break
            drained_at = drained_at or time.time()
        for message in messages:
            if message.error():
                continue
            record = json.loads(message.value())
            if message.topic() == options.get("fallbacks"):
                if record.get("breaker") == "ml":
                    ml_reason[record["incident_id"]] = record["reason"]
                continue
            fingerprint = record["alert"]["fingerprint"]
            if fingerprint not in sent or fingerprint in seen:
                continue
            incident_alert[record["incident_id"]] = fingerprint
            classification = record["classification"]
            model = record["provenance"]["classification"].get("model")
            seen[fingerprint] = (message.timestamp()[1] / 1000.0, classification["classifier"] == "ml" or model is not None)
    consumer.close()
    reason_of = {fingerprint: ml_reason.get(incident) for incident, fingerprint in incident_alert.items()}
    stop.set()
    sampler.join()
    final = scrape(options["metrics"])
    alerts = []
    for fingerprint, (sent_at, severity) in sent.items():
        if fingerprint in seen:
            published_at, by_model = seen[fingerprint]
            alerts.append([severity, round(published_at - sent_at, 4), by_model, reason_of.get(fingerprint)])
    fallbacks = {}
    for line in final.splitlines():
        if line.startswith("breakwater_fallbacks_total{") and 'breaker="ml"' in line:
            reason = re.search(r'reason="([^"]+)"', line).group(1)
            fallbacks[reason] = fallbacks.get(reason, 0) + float(line.rsplit(" ", 1)[1])
    result = {
        "sent": len(sent), "published": len(seen), "load_seconds": round(load_seconds, 1), "alerts": alerts,
        "timeouts": total(final, "circuit_breaker_calls_total", breaker="ml", outcome="timeout"),
        "ml_calls": total(final, "circuit_breaker_calls_total", breaker="ml")
        - total(final, "circuit_breaker_calls_total", breaker="ml", outcome="rejected"),
        "breaker_rejected": total(final, "circuit_breaker_calls_total", breaker="ml", outcome="rejected"),
        "opened": total(final, "circuit_breaker_transitions_total", breaker="ml", to="open"),
        "infer_failures": total(final, "breakwater_ml_infer_failures_total"),
        "fallbacks": fallbacks, "timeline": timeline,
    }
    with open(options["out"], "w") as out:
        json.dump(result, out)
    if len(seen) < len(sent):
        print("bench_adaptive: only %d of %d incidents within 300 s of the load's end" % (len(seen), len(sent)), file=sys.stderr)
        sys.exit(1)


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def summary(result):
    # Each alert: [severity, latency s, answered by the model, the ml fallback's reason or None].
    latencies = [alert[1] for alert in result["alerts"]]
    shares = {}
    for severity in ["critical", "high", "medium", "low", "info"]:
        of = [alert[2] for alert in result["alerts"] if alert[0] == severity]
        shares[severity] = sum(of) / len(of) if of else float("nan")
    missed = {}
    for alert in result["alerts"]:
        if alert[0] == "critical" and not alert[2]:
            reason = alert[3] if len(alert) > 3 and alert[3] else "unknown"
            missed[reason] = missed.get(reason, 0) + 1
    return {"p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99), "max": max(latencies),
            "shares": shares, "model_share": sum(alert[2] for alert in result["alerts"]) / len(result["alerts"]),
            "critical_missed": missed}


def proxy_seconds(path):
    """The proxy's per-second lines with requests (peak in flight, completed, slowest ML
    server answer in ms); none when the file is missing or has no ML server times."""
    try:
        lines = [line.split() for line in open(path)]
    except OSError:
        return []
    return [(int(f[1]), int(f[2]), float(f[3])) for f in lines if len(f) >= 4 and int(f[2]) > 0]


def report(breaker_only_file, adaptive_file):
    runs = {"breaker-only": json.load(open(breaker_only_file)), "adaptive": json.load(open(adaptive_file))}
    sums = {name: summary(result) for name, result in runs.items()}
    first = runs["breaker-only"]
    print("%d alerts at %.0f/s for each run (%s), the ML server behind the drowning proxy"
          % (first["sent"], first["sent"] / first["load_seconds"], ", ".join("%s %.0f s" % (n, r["load_seconds"]) for n, r in runs.items())))
    print("%-13s %9s %9s %9s %9s %9s %9s %8s %8s %8s" % ("", "p50 s", "p99 s", "max s", "by model", "critical", "info",
                                                         "ML calls", "timeouts", "opened"))
    for name, result in runs.items():
        s = sums[name]
        print("%-13s %9.3f %9.3f %9.3f %9.2f %9.3f %9.3f %8d %8d %8d" % (
            name, s["p50"], s["p99"], s["max"], s["model_share"], s["shares"]["critical"], s["shares"]["info"],
            result["ml_calls"], result["timeouts"], result["opened"]))
    for name, result in runs.items():
        shares = ", ".join("%s %.3f" % item for item in sums[name]["shares"].items())
        reasons = ", ".join("%s %d" % (reason, count) for reason, count in sorted(result["fallbacks"].items())) or "none"
        print("%s: answered by the model by severity: %s; ml fallbacks: %s" % (name, shares, reasons))
        missed = ", ".join("%s %d" % item for item in sorted(sums[name]["critical_missed"].items())) or "none"
        print("%s: critical alerts the rules answered, by the ml fallback's reason: %s" % (name, missed))
    files = {"breaker-only": breaker_only_file, "adaptive": adaptive_file}
    for name, result in runs.items():
        by_model = sorted(alert[1] for alert in result["alerts"] if alert[2])
        if by_model:
            print("%s: alerts the model answered: p50 %.3f s, p99 %.3f s" % (
                name, by_model[len(by_model) // 2], by_model[min(len(by_model) - 1, int(len(by_model) * 0.99))]))
        seconds = proxy_seconds(os.path.splitext(files[name])[0] + ".proxy.txt")
        if seconds:
            slowest = sorted(second[2] for second in seconds)
            in_flight = sorted(second[0] for second in seconds)
            print("%s: at the proxy, requests in flight per second median %d, max %d; the ML server's slowest answer"
                  " per second median %.0f ms, max %.0f ms" % (
                      name, in_flight[len(in_flight) // 2], in_flight[-1], slowest[len(slowest) // 2], slowest[-1]))
    base, adaptive = sums["breaker-only"], sums["adaptive"]
    p99_ratio = adaptive["p99"] / base["p99"] if base["p99"] > 0 else float("inf")
    timeout_ratio = (runs["adaptive"]["timeouts"] / runs["breaker-only"]["timeouts"]) if runs["breaker-only"]["timeouts"] else float("nan")
    print("p99 adaptive / breaker-only = %.2fx (target <= 0.5x) %s" % (p99_ratio, "met" if p99_ratio <= 0.5 else "NOT met"))
    print("critical answered by the model, adaptive = %.3f (target >= 0.95) %s; breaker-only %.3f"
          % (adaptive["shares"]["critical"], "met" if adaptive["shares"]["critical"] >= 0.95 else "NOT met", base["shares"]["critical"]))
    if runs["breaker-only"]["timeouts"] == 0:
        # Nothing to compare with: the server never got slow enough to time a request out.
        print("ML calls timed out, adaptive / breaker-only = %d / 0 (target <= 0.2x) not measurable: breaker-only"
              " never timed out (raise BREAKWATER_BENCH_PER_REQUEST_MS)" % runs["adaptive"]["timeouts"])
    else:
        print("ML calls timed out, adaptive / breaker-only = %d / %d = %.2fx (target <= 0.2x) %s"
              % (runs["adaptive"]["timeouts"], runs["breaker-only"]["timeouts"], timeout_ratio,
                 "met" if timeout_ratio <= 0.2 else "NOT met"))
    print("over time (every 5 s; limit and throttle probability of the adaptive run, ml breaker state 0 closed 1 half-open 2 open):")
    print("%6s %18s %18s %8s %10s" % ("t s", "breaker-only state", "adaptive state", "limit", "throttle p"))
    timelines = {name: {point["t"]: point for point in result["timeline"]} for name, result in runs.items()}
    last = max(max(t) for t in timelines.values() if t)
    fmt = lambda value, spec: (spec % value) if value is not None else "-"
    for t in range(0, last + 1, 5):
        b, a = timelines["breaker-only"].get(t, {}), timelines["adaptive"].get(t, {})
        print("%6d %18s %18s %8s %10s" % (t, fmt(b.get("state"), "%.0f"), fmt(a.get("state"), "%.0f"),
                                           fmt(a.get("limit"), "%.0f"), fmt(a.get("throttle"), "%.3f")))


if __name__ == "__main__":
    if sys.argv[1] == "run":
        pairs = sys.argv[2:]
        run({pairs[i].lstrip("-"): pairs[i + 1] for i in range(0, len(pairs), 2)})
    elif sys.argv[1] == "report":
        report(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
