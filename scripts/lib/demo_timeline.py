"""The timeline picture of a run, from the workers' own /metrics.

  demo_timeline.py sample OUT.jsonl NAME=URL...
      Scrapes every worker's /metrics (NAME its worker id, URL its base, e.g.
      worker-1=http://127.0.0.1:18080) once a second until SIGTERM/SIGINT; appends one JSON
      line per round: the time and, per worker, the samples the picture needs. Standard
      library only.
  demo_timeline.py mark EVENTS TEXT
      Appends "<unix time> TEXT" to the events file. TEXT "outage-start: LABEL" and
      "outage-end: LABEL" bound an outage window; anything else is a marker line.
  demo_timeline.py plot OUT.png SAMPLES.jsonl EVENTS
      Draws the timeline (needs matplotlib: scripts/lib/deps.sh ensure_matplotlib):
      incidents/s by classifier, fallbacks/s by breaker and strategy, breaker states as
      bands (one lane per worker and breaker), dead letters by reason (cumulative),
      consumer lag per worker; outage windows shaded, markers as dotted lines.
"""
import json
import re
import signal
import sys
import time
import urllib.request

KEPT = ("breakwater_incidents_total", "breakwater_fallbacks_total", "circuit_breaker_state",
        "breakwater_dlq_records_total", "breakwater_consumer_lag")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
STATES = [("closed", "#4caf50"), ("half-open", "#ffc107"), ("open", "#e53935"), ("forced open", "#8e24aa"),
          ("disabled", "#9e9e9e")]


def parse(text):
    """[(name, labels, value)] of the kept metrics in Prometheus text."""
    result = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = SAMPLE.match(line.strip())
        if not match or match.group(1) not in KEPT:
            continue
        try:
            value = float(match.group(3))
        except ValueError:
            continue
        result.append((match.group(1), dict(LABEL.findall(match.group(2) or "")), value))
    return result


def sample(out, workers_and_urls):
    urls = dict(argument.split("=", 1) for argument in workers_and_urls)
    stopping = []
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stopping.append(True))
    with open(out, "a", encoding="utf-8") as handle:
        while not stopping:
            started = time.time()
            workers = {}
            for name, url in urls.items():
                try:
                    with urllib.request.urlopen(url.rstrip("/") + "/metrics", timeout=2) as response:
                        workers[name] = parse(response.read().decode("utf-8"))
                except OSError:
                    workers[name] = None  # a worker that did not answer this round
            handle.write(json.dumps({"t": started, "workers": workers}) + "\n")
            handle.flush()
            time.sleep(max(0.0, 1.0 - (time.time() - started)))


def mark(events, text):
    with open(events, "a", encoding="utf-8") as handle:
        handle.write(f"{time.time():.3f} {text}\n")


def load(samples_path, events_path):
    rounds = []
    with open(samples_path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line:
                rounds.append(json.loads(line))
    events = []
    try:
        with open(events_path, encoding="utf-8") as handle:
            for line in handle:
                stamp, _, text = line.strip().partition(" ")
                if stamp:
                    events.append((float(stamp), text))
    except FileNotFoundError:
        pass
    return rounds, events


def rates(rounds, metric, key):
    """Per round: {group: rate/s summed over workers}, from counters grouped by key(labels)."""
    times, series = [], {}
    for previous, current in zip(rounds, rounds[1:]):
        elapsed = current["t"] - previous["t"]
        if elapsed <= 0:
            continue
        totals = {}
        for worker, samples in current["workers"].items():
            before = previous["workers"].get(worker)
            if samples is None or before is None:
                continue
            old = {(n, tuple(sorted(l.items()))): v for n, l, v in before if n == metric}
            for name, labels, value in samples:
                if name != metric:
                    continue
                delta = value - old.get((name, tuple(sorted(labels.items()))), 0.0)
                if delta < 0:  # a restarted worker: its counter started again
                    delta = value
                group = key(labels)
                totals[group] = totals.get(group, 0.0) + delta / elapsed
        times.append(current["t"])
        for group in totals:
            series.setdefault(group, [0.0] * (len(times) - 1))
        for group, values in series.items():
            values.append(totals.get(group, 0.0))
    return times, series


def gauges(rounds, metric, key, combine=sum):
    """Per round: {group: combined gauge value}, grouped by key(worker, labels)."""
    times, series = [], {}
    for current in rounds:
        values = {}
        for worker, samples in current["workers"].items():
            for name, labels, value in samples or []:
                if name == metric:
                    values.setdefault(key(worker, labels), []).append(value)
        times.append(current["t"])
        for group in values:
            series.setdefault(group, [None] * (len(times) - 1))
        for group, points in series.items():
            points.append(combine(values[group]) if group in values else None)
    return times, series


def plot(out, samples_path, events_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    rounds, events = load(samples_path, events_path)
    if len(rounds) < 2:
        sys.exit(f"{samples_path}: fewer than two scrapes, nothing to draw")
    start = rounds[0]["t"]

    def rel(values):
        return [value - start for value in values]

    figure, axes = plt.subplots(5, 1, figsize=(13, 14), sharex=True,
                                gridspec_kw={"height_ratios": [3, 3, 2.2, 2.2, 2.2]})
    incidents_axis, fallbacks_axis, breakers_axis, dlq_axis, lag_axis = axes

    times, series = rates(rounds, "breakwater_incidents_total", lambda l: l.get("classifier", "?"))
    for group in sorted(series):
        incidents_axis.plot(rel(times), series[group], label=f"classifier={group}", linewidth=1.4)
    incidents_axis.set_ylabel("incidents / s")
    incidents_axis.set_title("Incidents per second by classifier (all workers)", loc="left", fontsize=10)

    times, series = rates(rounds, "breakwater_fallbacks_total",
                          lambda l: f"{l.get('breaker', '?')} / {l.get('strategy', '?')}")
    for group in sorted(series):
        fallbacks_axis.plot(rel(times), series[group], label=group, linewidth=1.4)
    fallbacks_axis.set_ylabel("fallbacks / s")
    fallbacks_axis.set_title("Fallback events per second by breaker / strategy", loc="left", fontsize=10)

    times, lanes = gauges(rounds, "circuit_breaker_state",
                          lambda worker, l: f"{worker} {l.get('breaker', '?')}", combine=max)
    names = sorted(lanes)
    for row, lane in enumerate(names):
        values = lanes[lane]
        for index, value in enumerate(values):
            if value is None:
                continue
            begin = times[index] - start
            end = (times[index + 1] - start) if index + 1 < len(times) else begin + 1
            state = int(value) if 0 <= int(value) < len(STATES) else 4
            breakers_axis.broken_barh([(begin, end - begin)], (row - 0.4, 0.8), facecolors=STATES[state][1], linewidth=0)
    breakers_axis.set_yticks(range(len(names)))
    breakers_axis.set_yticklabels(names, fontsize=7)
    breakers_axis.set_ylim(-0.6, max(len(names), 1) - 0.4)
    breakers_axis.set_title("Breaker state per worker", loc="left", fontsize=10)
    breakers_axis.legend(handles=[Patch(color=color, label=label) for label, color in STATES],
                         loc="upper left", bbox_to_anchor=(1.005, 1), fontsize=8)

    times, series = gauges(rounds, "breakwater_dlq_records_total", lambda worker, l: l.get("reason", "?"))
    for group in sorted(series):
        dlq_axis.step(rel(times), series[group], where="post", label=group, linewidth=1.4)
    dlq_axis.set_ylabel("records")
    dlq_axis.set_title("Dead-lettered records by reason (cumulative)", loc="left", fontsize=10)

    times, series = gauges(rounds, "breakwater_consumer_lag", lambda worker, l: worker)
    for group in sorted(series):
        lag_axis.plot(rel(times), series[group], label=group, linewidth=1.4)
    lag_axis.set_ylabel("records")
    lag_axis.set_title("Consumer lag (sum over each worker's partitions)", loc="left", fontsize=10)
    lag_axis.set_xlabel("seconds since the first scrape")

    opened = {}
    for stamp, text in events:
        kind, _, label = text.partition(": ")
        if kind == "outage-start":
            opened[label] = stamp
        elif kind == "outage-end" and label in opened:
            begin = opened.pop(label) - start
            for axis in axes:
                axis.axvspan(begin, stamp - start, color="#e53935", alpha=0.08)
            incidents_axis.annotate(label, xy=(begin, 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
                                    textcoords="offset points", fontsize=8, color="#b71c1c")
        else:
            for axis in axes:
                axis.axvline(stamp - start, color="#555555", linestyle=":", linewidth=0.8)
            lag_axis.annotate(text, xy=(stamp - start, 0), xycoords=("data", "axes fraction"), xytext=(2, 3),
                              textcoords="offset points", fontsize=7, rotation=90, color="#333333")
    for label, begin in opened.items():  # an outage still open when the run ended
        for axis in axes:
            axis.axvspan(begin - start, rounds[-1]["t"] - start, color="#e53935", alpha=0.08)

    for axis in (incidents_axis, fallbacks_axis, dlq_axis, lag_axis):
        axis.grid(True, alpha=0.3)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(loc="upper left", bbox_to_anchor=(1.005, 1), fontsize=8)
    figure.suptitle("Breakwater run timeline (shaded: outage windows)", x=0.01, ha="left", fontsize=12)
    figure.tight_layout()
    figure.savefig(out, dpi=110)


def main(argv):
    if len(argv) >= 3 and argv[0] == "sample" and all("=" in argument for argument in argv[2:]):
        sample(argv[1], argv[2:])
    elif len(argv) == 3 and argv[0] == "mark":
        mark(argv[1], argv[2])
    elif len(argv) == 4 and argv[0] == "plot":
        plot(argv[1], argv[2], argv[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
