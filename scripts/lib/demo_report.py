"""Helpers of scripts/demo (python3, standard library only).

  demo_report.py merge-expectations OUT IN...   sums `breakwater produce --expect-file` files into one
  demo_report.py metric NAME FILE...            sums a metric over scraped /metrics files
                                                (optional label filter: NAME{label="value"})
  demo_report.py summary EXPECT SUMMARY_JSON VERDICT_RC METRICS...   prints the final summary
"""
import json
import re
import sys

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(paths):
    """Yields (name, labels, value) of every sample in Prometheus text files."""
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("#"):
                    continue
                match = SAMPLE.match(line.strip())
                if not match:
                    continue
                try:
                    value = float(match.group(3))
                except ValueError:
                    continue
                yield match.group(1), dict(LABEL.findall(match.group(2) or "")), value


def merge_expectations(out, inputs):
    merged = {}
    for path in inputs:
        with open(path, encoding="utf-8") as handle:
            part = json.load(handle)
        for key, value in part.items():
            if isinstance(value, dict):
                target = merged.setdefault(key, {})
                for name, count in value.items():
                    target[name] = target.get(name, 0) + count
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                merged[key] = merged.get(key, 0) + value
            else:
                merged.setdefault(key, value)
    if merged.get("elapsed_seconds"):
        merged["records_per_second"] = merged["delivered"] / merged["elapsed_seconds"]
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(merged, handle, indent=2, sort_keys=True)
        handle.write("\n")


def metric(selector, paths):
    match = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$', selector)
    if not match:
        sys.exit(f"bad metric selector: {selector}")
    name, wanted = match.group(1), dict(LABEL.findall(match.group(2) or ""))
    total = sum(value for sample_name, labels, value in samples(paths)
                if sample_name == name and all(labels.get(k) == v for k, v in wanted.items()))
    print(int(total) if total == int(total) else total)


def table(rows, indent="    "):
    """Rows of (label, count): labels left-aligned, counts right-aligned."""
    if not rows:
        return [indent + "(none)"]
    width = max(len(label) for label, _ in rows)
    digits = max(len(str(count)) for _, count in rows)
    return [f"{indent}{label:<{width}}  {count:>{digits}}" for label, count in rows]


def summary(expect_path, summary_path, verdict_rc, metrics_paths):
    with open(expect_path, encoding="utf-8") as handle:
        expect = json.load(handle)
    with open(summary_path, encoding="utf-8") as handle:
        out = json.load(handle)
    lines = ["", "==================== Breakwater demo summary ===================="]
    lines.append(f"alerts in:        {expect['alerts']} alerts in {expect['delivered'] - expect['malformed']} records "
                 f"+ {expect['malformed']} malformed records ({expect['failed']} failed to send)")
    lines.append(f"incidents out:    {out['incidents']} ({out['distinct_incidents']} distinct)")
    lines.append("  by classifier and severity:")
    rows = []
    for classifier in sorted(out.get("incidents_by_classifier", {})):
        for severity, count in sorted(out["incidents_by_classifier"][classifier].items()):
            rows.append((f"{classifier} / {severity}", count))
    lines += table(rows)
    lines.append(f"fallback events:  {out['fallback_events']}")
    lines.append("  by breaker and strategy:")
    rows = []
    for breaker in sorted(out.get("fallback_events_by_breaker", {})):
        for strategy, reasons in sorted(out["fallback_events_by_breaker"][breaker].items()):
            rows.append((f"{breaker} / {strategy}", sum(reasons.values())))
    lines += table(rows)
    provisional = out.get("provisional_incidents", 0)
    healed = out.get("healed_incidents", 0)
    lines.append(f"healing:          {provisional} incidents published provisional, {healed} healed revisions")
    # A healed incident whose classifier is `rules` was answered by the model below
    # ml.minConfidence, and the policy kept the rules' verdict (the model's is next to it).
    labels = {"ml": "healed to classifier ml", "rules": "healed, model unsure: rules' verdict kept"}
    rows = [(labels.get(name, f"healed to classifier {name}"), count)
            for name, count in sorted(out.get("healed_by_classifier", {}).items())]
    rows += [(f"healed, enrichment from {name}", count) for name, count in sorted(out.get("healed_by_enrichment", {}).items())]
    rows += [(f"revision {revision}", count) for revision, count in sorted(out.get("incidents_by_revision", {}).items(), key=lambda item: int(item[0]))]
    lines += table(rows)
    lines.append(f"DLQ records:      {out['dead_letters']}")
    lines += table(sorted(out.get("dead_letters_by_reason", {}).items()))
    transitions = {}
    for name, labels, value in samples(metrics_paths):
        if name == "circuit_breaker_transitions_total" and value > 0:
            key = (labels.get("breaker", "?"), labels.get("from", "?"), labels.get("to", "?"))
            transitions[key] = transitions.get(key, 0) + value
    lines.append(f"breaker transitions (summed over {len(metrics_paths)} workers' /metrics):")
    lines += table([(f"{b}: {f} -> {t}", int(v)) for (b, f, t), v in sorted(transitions.items())])
    missing_alerts = max(expect["alerts"] - out["incidents"] - out.get("dead_lettered_alerts", 0), 0)
    missing_dead = max(expect["malformed"] - (out["dead_letters"] - out.get("decodable_dead_letters", 0)), 0)
    lost = verdict_rc != 0 or missing_alerts > 0 or missing_dead > 0 or expect["failed"] > 0
    verdict = "NOTHING LOST: every alert became an incident, every malformed record is in the DLQ"
    if lost:
        verdict = f"SOMETHING WAS LOST: {missing_alerts} alerts and {missing_dead} dead letters missing"
        if expect["failed"]:
            verdict += f", {expect['failed']} records failed to send"
    lines.append("verdict:          " + verdict)
    lines.append("================================================================")
    print("\n".join(lines))
    return 1 if lost else 0


def main(argv):
    if len(argv) >= 3 and argv[0] == "merge-expectations":
        merge_expectations(argv[1], argv[2:])
        return 0
    if len(argv) >= 3 and argv[0] == "metric":
        metric(argv[1], argv[2:])
        return 0
    if len(argv) >= 4 and argv[0] == "summary":
        return summary(argv[1], argv[2], int(argv[3]), argv[4:])
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
