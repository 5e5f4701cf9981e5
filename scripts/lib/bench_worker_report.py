"""The report of scripts/bench-worker: the table, the details of the full path and a
verdict line per target.

Usage: bench_worker_report.py RESULTS FULL_METRICS FULL_RECORDS MEMORY_RECORDS CLUSTER_RECORDS
  RESULTS       one line per measured row: `KEY RATE [CPU RSS BROKER ML PG [ML_WAIT]]`
                (per-alert CPU in µs, RSS in MB, ML_WAIT the % of the run the ML server
                was runnable but waiting for a CPU, "-" where unknown) for a, b0, b, b1, c,
                d0, d, e, e0, g0, g1, g; and
                `ml <JSON of scripts/lib/bench_ml_baseline.py>`; `f0|f WORKER BROKER` (cores)
  FULL_METRICS  the full-path workers' last /metrics, a file per round of (d), comma-
                separated (read when RESULTS has a row d)
Rows not in RESULTS (parts the run skipped) are left out, with their verdicts. A key
given on several lines (the rounds of (a)-(c), and of (ML) and (d)) shows each column's
median, and the ratios of each round follow the table.
"""
import json
import re
import statistics
import sys
from collections import defaultdict

results_file, full_records, memory_records = sys.argv[1], int(sys.argv[3]), int(sys.argv[4])
metrics_files = sys.argv[2].split(",")
cluster_records = int(sys.argv[5])

rows, ml_rounds, idle = {}, [], {}
rounds = defaultdict(list)
for line in open(results_file):
    key, rest = line.rstrip("\n").split(" ", 1)
    if key == "ml":
        ml_rounds.append(json.loads(rest))
    elif key in ("f0", "f"):
        idle[key] = rest.split()
    else:
        rounds[key].append([None if value == "-" else float(value) for value in rest.split()])


def median_row(measured):
    """Each column's median over the rounds (None where a round did not measure it)."""
    columns = zip(*measured)
    return [None if None in column else statistics.median(column) for column in columns]


rows = {key: median_row(measured) for key, measured in rounds.items()}


def verdict(ok):
    return "met" if ok else "NOT met"


def cell(value, width, spec):
    return f"{'' if value is None else format(value, spec):>{width}}"


columns = [("records/s", 10, ",.0f"), ("CPU µs/alert", 13, ".1f"), ("peak RSS MB", 12, ".0f"),
           ("broker µs/alert", 16, ".1f"), ("ML µs/alert", 12, ".1f"), ("PG µs/alert", 12, ".1f")]
labels = {
    "a": "(a) kcat pass-through",
    "b0": "(b0) breakwater before, defaults",
    "b": "(b) breakwater, defaults",
    "b1": "(b1) breakwater, tuned",
    "c": "(c) Python confluent-kafka worker",
    "d0": "(d0) breakwater before, full path",
    "d": "(d) breakwater, full path",
    "ml": "(ML) ML server alone",
    "e": f"(e) breakwater, {memory_records:,} backlog",
    "e0": "(e0) kcat reading the same backlog",
    "g0": "(g0) mock cluster, min.messages 1000",
    "g1": "(g1) mock cluster, defaults",
    "g": f"(g) mock cluster, {cluster_records:,} backlog",
}
# (ML): each round's best thread count, as a row of its own round.
ml = ml_rounds[0] if ml_rounds else None
for ml_round in ml_rounds:
    best = ml_round["best"]
    server = best["server_cpu_seconds"]
    rounds["ml"].append([best["rate"], best["cpu_seconds"] * 1e6 / best["alerts"], None, None,
                         None if server is None else server * 1e6 / best["alerts"], None])
if ml is not None:
    rows["ml"] = median_row(rounds["ml"])
    best_threads = {ml_round["best"]["threads"] for ml_round in ml_rounds}
    threads = f", {best_threads.pop()} thr" if len(best_threads) == 1 else ""
    labels["ml"] = f"(ML) ML server alone, {ml['batch']}/request{threads}"

if rows:
    print(f"{'':40}" + " ".join(f"{name:>{width}}" for name, width, _ in columns))
    for key in ("a", "b0", "b", "b1", "c", "d0", "d", "ml", "e", "e0", "g0", "g1", "g"):
        if key in rows:
            values = rows[key] + [None] * (len(columns) - len(rows[key]))
            print((f"{labels[key]:40}" + " ".join(cell(value, width, spec) for value, (_, width, spec) in zip(values, columns))).rstrip())
    print("CPU µs/alert: the measured process's (for (ML) the Python client's); ML, PG: the ML server's and")
    print("PostgreSQL's CPU over the same interval; empty: not measured or not on this machine.")


def metrics(path):
    """{name: [(labels dict, value)]} from a Prometheus text exposition."""
    found = defaultdict(list)
    for line in open(path):
        match = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)", line)
        if match and not line.startswith("#"):
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
            found[match.group(1)].append((labels, float(match.group(3))))
    return found


def total(found, name, **wanted):
    return sum(value for labels, value in found.get(name, []) if all(labels.get(k) == v for k, v in wanted.items()))


def grouped(found, name, keys, separator="/", **wanted):
    """'k1/k2 n, …' of the non-zero series of a counter, or 'none'."""
    sums = defaultdict(float)
    for labels, value in found.get(name, []):
        if all(labels.get(k) == v for k, v in wanted.items()):
            sums[separator.join(labels.get(k, "?") for k in keys)] += value
    parts = [f"{group} {value:,.0f}" for group, value in sorted(sums.items()) if value]
    return ", ".join(parts) or "none"


for index, ml_round in enumerate(ml_rounds):
    which = f", round {index + 1}" if len(ml_rounds) > 1 else ""
    print(f"(ML) by threads ({ml_round['count']:,} alerts each{which}): "
          + ", ".join(f"{level['threads']}: {level['rate']:,.0f}/s" for level in ml_round["levels"]))
full_path_rounds = []  # (incidents, by ML, asked, failed over) of each round's (d)
if "d" in rows:
    for index, path in enumerate(metrics_files[:len(rounds["d"])]):
        found = metrics(path)
        incidents = total(found, "breakwater_incidents_total")
        ml_incidents = total(found, "breakwater_incidents_total", classifier="ml")
        requests = total(found, "breakwater_ml_batch_size_count")
        batched = total(found, "breakwater_ml_batch_size_sum")
        # The full path holds when the ML server was asked about every alert and answered:
        # an answer below the policy's confidence floor is classified by the rules as
        # configured, but the ML server did that work all the same.
        ml_failed_over = sum(value for labels, value in found.get("breakwater_fallbacks_total", [])
                             if labels.get("breaker") == "ml" and labels.get("reason") != "low_confidence")
        full_path_rounds.append((incidents, ml_incidents, batched, ml_failed_over))
        processing = total(found, "breakwater_processing_duration_seconds_sum") / max(1, total(found, "breakwater_processing_duration_seconds_count"))
        which = f", round {index + 1}" if len(rounds["d"]) > 1 else ""
        print(f"(d{which}) classified by ML: {ml_incidents:,.0f} of {incidents:,.0f} incidents; {requests:,.0f} ML requests"
              f" (mean batch {batched / max(1, requests):.1f}); mean time per record {processing * 1e3:.1f} ms")
        print(f"(d{which}) ML infer failures: {grouped(found, 'breakwater_ml_infer_failures_total', ['reason'])};"
              f" ml breaker transitions: {grouped(found, 'circuit_breaker_transitions_total', ['from', 'to'], '->', breaker='ml')};"
              f" fallback events: {grouped(found, 'breakwater_fallbacks_total', ['breaker', 'strategy', 'reason'])}")
    for key in ("d0", "d"):
        if key in rows and len(rows[key]) > 6 and rows[key][6] is not None:
            median = ", median of the rounds" if len(rounds[key]) > 1 else ""
            print(f"({key}) the ML server was runnable but waiting for a CPU {rows[key][6]:.0f}% of the run{median}"
                  " (/proc schedstat: what the processes beside it took from it)")

if len(rounds.get("b", [])) > 1:
    print(f"(a)-(c) over {len(rounds['b'])} rounds: the table gives each row's median, the ratios below are the medians'. Each round:")
    for index, b_round in enumerate(rounds["b"]):
        parts = [f"b {b_round[0]:,.0f}/s at {b_round[1]:.1f} µs"]
        for key in ("c", "a", "b1", "b0"):
            if index < len(rounds.get(key, [])):
                parts.append(f"b/{key} {b_round[0] / rounds[key][index][0]:.2f}x")
        print(f"  round {index + 1}: " + ", ".join(parts))
if "b" in rows:
    b, b_cpu = rows["b"][0], rows["b"][1]
    if "c" in rows:
        print(f"b / c  = {b / rows['c'][0]:5.2f}x  (target >= 2x)      {verdict(b / rows['c'][0] >= 2)}")
    if "a" in rows:
        print(f"b / a  = {b / rows['a'][0]:5.2f}x  (target >= 0.25x)   {verdict(b / rows['a'][0] >= 0.25)}")
    if "b1" in rows:
        print(f"b / b1 = {b / rows['b1'][0]:5.2f}x  (no cliff: >= 0.8x) {verdict(b / rows['b1'][0] >= 0.8)}")
    print(f"CPU per alert (b) = {b_cpu:.1f} µs (target <= 30 µs) {verdict(b_cpu <= 30)}")
    if "b0" in rows:
        print(f"b / b0 = {b / rows['b0'][0]:5.2f}x records/s, CPU per alert {b_cpu:.1f} / {rows['b0'][1]:.1f} µs"
              f" = {b_cpu / rows['b0'][1]:.2f}x (this build against the one before)")
if len(rounds.get("d", [])) > 1 and ml is not None:
    print(f"(ML), (d) over {len(rounds['d'])} rounds: the table gives each row's median, d / ML below is the medians'. Each round:")
    for index, d_round in enumerate(rounds["d"]):
        parts = [f"d {d_round[0]:,.0f}/s at {d_round[1]:.1f} µs"]
        if index < len(rounds["ml"]):
            parts.append(f"ML {rounds['ml'][index][0]:,.0f}/s, d/ML {d_round[0] / rounds['ml'][index][0]:.2f}x")
        if len(d_round) > 6 and d_round[6] is not None:
            parts.append(f"ML server waiting for a CPU {d_round[6]:.0f}%")
        if index < len(rounds.get("d0", [])):
            parts.append(f"d/d0 {d_round[0] / rounds['d0'][index][0]:.2f}x")
        print(f"  round {index + 1}: " + ", ".join(parts))
if "d" in rows and ml is not None:
    ratio = rows["d"][0] / rows["ml"][0]
    full_path = all(asked >= incidents and failed_over == 0 for incidents, _, asked, failed_over in full_path_rounds)
    line = f"d / ML = {ratio:5.2f}x  (full path vs the ML server alone, target >= 0.8x) {verdict(ratio >= 0.8 and full_path)}"
    incidents = sum(round_[0] for round_ in full_path_rounds)
    ml_incidents, ml_asked, ml_failed_over = (sum(round_[i] for round_ in full_path_rounds) for i in (1, 2, 3))
    if not full_path:
        line += (f" (the ML server was asked about {ml_asked:,.0f} of {incidents:,.0f} alerts and {ml_failed_over:,.0f}"
                 " fell back to the rules for a failure: not the full path)")
    elif ml_incidents != incidents:
        line += f" ({incidents - ml_incidents:,.0f} ML answers below the confidence floor, classified by the rules as configured)"
    print(line)
if "d" in rows and "d0" in rows:
    print(f"d / d0 = {rows['d'][0] / rows['d0'][0]:5.2f}x records/s, CPU per alert {rows['d'][1]:.1f} / {rows['d0'][1]:.1f} µs"
          f" = {rows['d'][1] / rows['d0'][1]:.2f}x (this build against the one before)")
if "e" in rows:
    rss = rows["e"][2]
    note = "" if memory_records == 1_000_000 else " (the target is for a 1,000,000-record backlog)"
    if "e0" in rows:
        note += f"; kcat alone, same backlog and broker (e0): {rows['e0'][2]:.0f} MB"
    print(f"peak RSS (e), {memory_records:,}-record backlog = {rss:.0f} MB (target <= 200 MB) {verdict(rss <= 200)}{note}")
for key, label in (("f0", "(f0) idle worker, no rest"), ("f", "(f) idle worker, idleFetchBackoff=200ms")):
    if key in idle:
        worker, broker = idle[key]
        print(f"{label}: worker {float(worker):.3f} of a core, broker {broker if broker == '-' else f'{float(broker):.3f}'} of a core")
if "g" in rows:
    rss = rows["g"][2]
    note = "" if cluster_records == 1_000_000 else " (the target is for a 1,000,000-record backlog)"
    print(f"peak RSS (g), {cluster_records:,}-record backlog on a broker that honours fetch limits = {rss:.0f} MB"
          f" (target <= 200 MB) {verdict(rss <= 200)}{note}")
if "g1" in rows and "g0" in rows:
    print(f"g1 / g0 = {rows['g1'][0] / rows['g0'][0]:5.2f}x records/s (the default prefetch bound against queued.min.messages=1000)")
