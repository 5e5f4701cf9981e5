#!/usr/bin/env python3
"""Scores `breakwater classify` output against the evaluation set (scripts/eval-classifier).

    eval_report.py EVAL_SET.jsonl VERDICTS.jsonl TRAINING_SET.jsonl

Checks first, and exits 1 when one fails: every alert of the set has exactly one verdict;
the model answered every alert (a missing model verdict or a fallback other than
`low_confidence` means the ML server was not healthy, which would score the rules as the
model); and the set does not overlap the training data (no model input text, summary
or description of the evaluation set occurs in the training set).

Then prints, for (a) the model alone, (b) the rules alone and (c) what the worker
publishes: per-severity precision, recall and F1, macro-F1 over the five severities,
recall of `critical`, the share of `info` alerts published as `high` or `critical`, the
confusion matrix (rows: expected, columns: predicted), category accuracy, and the
issue-16 targets.
"""
import json
import sys
from collections import Counter

SEVERITIES = ["critical", "high", "medium", "low", "info"]


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def scores(pairs):
    """pairs: [(expected, predicted)] severities -> dict of metrics."""
    confusion = Counter(pairs)
    per_class = {}
    for s in SEVERITIES:
        tp = confusion[(s, s)]
        predicted = sum(v for (e, p), v in confusion.items() if p == s)
        actual = sum(v for (e, p), v in confusion.items() if e == s)
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[s] = (precision, recall, f1, actual)
    info_total = sum(v for (e, p), v in confusion.items() if e == "info")
    info_raised = sum(v for (e, p), v in confusion.items() if e == "info" and p in ("critical", "high"))
    return {
        "per_class": per_class,
        "macro_f1": sum(v[2] for v in per_class.values()) / len(SEVERITIES),
        "critical_recall": per_class["critical"][1],
        "info_as_urgent": info_raised / info_total if info_total else 0.0,
        "confusion": confusion,
        "accuracy": sum(confusion[(s, s)] for s in SEVERITIES) / max(1, len(pairs)),
    }


def report(name, pairs, categories):
    result = scores(pairs)
    category_accuracy = sum(e == p for e, p in categories) / max(1, len(categories))
    print(f"\n== {name} ({len(pairs)} alerts) ==")
    print(f"{'severity':<10}{'precision':>10}{'recall':>8}{'f1':>8}{'support':>9}")
    for s, (p, r, f, n) in result["per_class"].items():
        print(f"{s:<10}{p:>10.3f}{r:>8.3f}{f:>8.3f}{n:>9}")
    print(f"macro-F1 {result['macro_f1']:.3f}   critical recall {result['critical_recall']:.3f}   "
          f"severity accuracy {result['accuracy']:.3f}   category accuracy {category_accuracy:.3f}   "
          f"info published as high/critical {result['info_as_urgent']:.1%}")
    print("confusion (rows expected, columns predicted):")
    print(" " * 10 + "".join(f"{s:>9}" for s in SEVERITIES))
    for e in SEVERITIES:
        print(f"{e:<10}" + "".join(f"{result['confusion'][(e, p)]:>9}" for p in SEVERITIES))
    result["category_accuracy"] = category_accuracy
    return result


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: eval_report.py EVAL_SET.jsonl VERDICTS.jsonl TRAINING_SET.jsonl")
    eval_rows, verdict_rows, training = (load(p) for p in sys.argv[1:])
    problems = []

    verdicts = {}
    for v in verdict_rows:
        if "rejected" in v:
            problems.append(f"line {v['line']} rejected by the decoder: {v['rejected']}: {v['detail']}")
            continue
        verdicts[(v["line"], v["alert"])] = v
    expected = {(line, index): e for line, row in enumerate(eval_rows, 1) for index, e in enumerate(row["expected"])}
    if set(verdicts) != set(expected):
        problems.append(f"{len(expected)} alerts expected, {len(verdicts)} classified; "
                        f"missing {sorted(set(expected) - set(verdicts))[:5]}, extra {sorted(set(verdicts) - set(expected))[:5]}")
    unhealthy = [k for k, v in verdicts.items() if v["model"] is None or set(v["fallbacks"]) - {"low_confidence"}]
    if unhealthy:
        problems.append(f"{len(unhealthy)} alerts without a model verdict or with an availability fallback "
                        f"(first: {verdicts[unhealthy[0]]}); is the ML server up?")

    training_texts = {r["text"] for r in training}
    training_phrases = {r.get("summary") for r in training} | {r.get("description") for r in training}
    training_phrases.discard(None)
    text_overlap = [v["text"] for v in verdicts.values() if v["text"] in training_texts]
    phrase_overlap = set()
    for row in eval_rows:
        value = row["value"]
        for a in (value.get("data", value) if isinstance(value, dict) else {}).get("alerts", [value.get("data", value)]):
            annotations = a.get("annotations", {}) if isinstance(a, dict) else {}
            phrase_overlap |= {annotations.get(k) for k in ("summary", "description")} & training_phrases
        summary = value.get("payload", {}).get("summary") if isinstance(value, dict) else None
        if summary in training_phrases:
            phrase_overlap.add(summary)
    phrase_overlap.discard(None)
    if text_overlap or phrase_overlap:
        problems.append(f"evaluation set overlaps the training data: {len(text_overlap)} model texts "
                        f"(e.g. {text_overlap[:2]}), {len(phrase_overlap)} summaries/descriptions (e.g. {sorted(phrase_overlap)[:2]})")
    print(f"overlap check: {len(verdicts)} evaluation texts against {len(training_texts)} training texts: "
          f"{len(text_overlap)} identical texts, {len(phrase_overlap)} shared summaries/descriptions")
    if problems:
        for p in problems:
            print("error: " + p, file=sys.stderr)
        sys.exit(1)

    keys = sorted(expected)
    results = {}
    for name, field in (("(a) model alone", "model"), ("(b) rules alone", "rules"), ("(c) published (worker policy)", "published")):
        results[field] = report(
            name,
            [(expected[k]["severity"], verdicts[k][field]["severity"]) for k in keys],
            [(expected[k]["category"], verdicts[k][field]["category"]) for k in keys])
    low = Counter(r for k in keys for r in verdicts[k]["fallbacks"])
    published_by = Counter(verdicts[k]["published"]["classifier"] for k in keys)
    print(f"\npublished by: {dict(published_by)}; fallback events: {dict(low) or 'none'}")
    for label, with_source in (("with a source severity", True), ("without a source severity", False)):
        subset = [k for k in keys if (expected[k]["source_severity"] is not None) == with_source]
        parts = []
        for field in ("model", "rules", "published"):
            s = scores([(expected[k]["severity"], verdicts[k][field]["severity"]) for k in subset])
            parts.append(f"{field} macro-F1 {s['macro_f1']:.3f} critical recall {s['critical_recall']:.3f}")
        print(f"{label} ({len(subset)}): " + "; ".join(parts))

    m, r, p = results["model"], results["rules"], results["published"]
    targets = [
        ("published critical recall >= 0.95", p["critical_recall"] >= 0.95),
        ("published macro-F1 >= model alone and rules alone", p["macro_f1"] >= max(m["macro_f1"], r["macro_f1"])),
        ("info published as high/critical <= 5%", p["info_as_urgent"] <= 0.05),
        ("model alone macro-F1 >= rules alone", m["macro_f1"] >= r["macro_f1"]),
    ]
    print("\ntargets:")
    for text, ok in targets:
        print(f"  {'met    ' if ok else 'NOT MET'}  {text}")


if __name__ == "__main__":
    main()
