"""The ML server's own batched throughput, for scripts/bench-worker's full path (d).

Sends Open Inference Protocol v2 requests straight to the model server, the way the
worker's ML client does (Sources/TriageML/MLClient.swift): `POST /v2/models/{model}/infer`
with one BYTES input of shape [N] holding N alert texts, each built by
deploy/mlserver/alert_text.py (the Python twin of `MLClient.text(for:)`) from the same
backlog the worker reads. Batches of BATCH alerts (the worker's `ml.maxBatchSize`), over
keep-alive connections (http.client), from several threads at once.

To give the server its best chance, the request bodies are JSON-encoded before the clock
starts, and each level of concurrency runs after a warm-up; each response is still read
whole and checked (status 200, every output of the request's length), so only answered
alerts count. Runs once per thread count in THREADS and reports each rate and the best.

Usage: bench_ml_baseline.py URL MODEL INPUT BACKLOG_TSV COUNT BATCH THREADS [SERVER_PID]
  BACKLOG_TSV  lines `key<TAB>alert JSON` (single Alertmanager alerts); the first COUNT
               are classified at each level (COUNT alerts per level)
  THREADS      comma-separated thread counts, e.g. 1,2,4,8
  SERVER_PID   the model server's process, when it runs on this machine: its CPU is
               reported too
Prints one JSON line: {"batch", "count", "levels": [{"threads", "alerts", "seconds",
"rate", "cpu_seconds", "server_cpu_seconds"}], "best": <the level with the highest
rate>}; cpu_seconds is this client's own CPU over the level, server_cpu_seconds the
server's (null without SERVER_PID).
"""
import http.client
import json
import os
import resource
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "mlserver"))
from alert_text import alert_text  # noqa: E402

OUTPUTS = ("severity", "severity_confidence", "category", "category_confidence")

url, model, input_name, backlog, count, batch, thread_list = sys.argv[1:8]
server_pid = sys.argv[8] if len(sys.argv) > 8 and sys.argv[8] else None
count, batch = int(count), int(batch)
threads_levels = [int(t) for t in thread_list.split(",") if t]
target = urllib.parse.urlsplit(url)
path = "/v2/models/%s/infer" % urllib.parse.quote(model)

texts = []
with open(backlog) as lines:
    for line in lines:
        if len(texts) == count:
            break
        alert = json.loads(line.split("\t", 1)[1])
        annotations = alert.get("annotations", {})
        texts.append(alert_text(alert.get("labels", {}), annotations.get("summary"), annotations.get("description")))
if len(texts) < count:
    sys.exit("bench_ml_baseline: %s holds %d alerts, fewer than %d" % (backlog, len(texts), count))

bodies = []
for start in range(0, count, batch):
    chunk = texts[start:start + batch]
    body = {"inputs": [{"name": input_name, "shape": [len(chunk)], "datatype": "BYTES", "data": chunk}]}
    bodies.append((len(chunk), json.dumps(body, separators=(",", ":")).encode()))


def connect():
    return http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)


def infer(connection, size, body):
    connection.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    payload = response.read()
    if response.status != 200:
        raise RuntimeError("HTTP %d: %s" % (response.status, payload[:300]))
    outputs = {output["name"]: output for output in json.loads(payload)["outputs"]}
    for name in OUTPUTS:
        if len(outputs[name]["data"]) != size:
            raise RuntimeError("output %s: %d values for %d alerts" % (name, len(outputs[name]["data"]), size))


def server_cpu():
    """The server's CPU seconds so far (user + system), or None without its PID."""
    if server_pid is None:
        return None
    with open("/proc/%s/stat" % server_pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_level(threads):
    """Sends every body once, THREADS requests at a time; returns the level's result."""
    lock = threading.Lock()
    next_body = [0]
    done = [0]
    errors = []

    def worker():
        connection = connect()
        try:
            while True:
                with lock:
                    index = next_body[0]
                    next_body[0] += 1
                if index >= len(bodies) or errors:
                    return
                size, body = bodies[index]
                infer(connection, size, body)
                with lock:
                    done[0] += size
        except Exception as error:  # noqa: BLE001 - reported below, fails the run
            errors.append(error)
        finally:
            connection.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    usage0, server0 = resource.getrusage(resource.RUSAGE_SELF), server_cpu()
    started = time.monotonic()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - started
    usage1, server1 = resource.getrusage(resource.RUSAGE_SELF), server_cpu()
    if errors:
        sys.exit("bench_ml_baseline: %d threads: %s" % (threads, errors[0]))
    cpu = (usage1.ru_utime + usage1.ru_stime) - (usage0.ru_utime + usage0.ru_stime)
    return {"threads": threads, "alerts": done[0], "seconds": elapsed, "rate": done[0] / elapsed, "cpu_seconds": cpu,
            "server_cpu_seconds": None if server0 is None else server1 - server0}


# Warm-up: the first requests of a fresh server (and of fresh connections) are slow.
warm = connect()
for size, body in bodies[:20]:
    infer(warm, size, body)
warm.close()

levels = [run_level(threads) for threads in threads_levels]
best = max(levels, key=lambda level: level["rate"])
print(json.dumps({"batch": batch, "count": count, "levels": levels, "best": best}))
