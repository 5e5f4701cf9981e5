#!/usr/bin/env python3
"""Generates the labeled evaluation set scripts/eval-classifier scores the classifiers on.

Deterministic (seed 4242, never the training seed), so the committed
`eval-set.jsonl` can be regenerated and diffed:

    python3 deploy/mlserver/eval_set.py > deploy/mlserver/eval-set.jsonl

Every rule of alert_rules.py yields EVAL_RECORDS_PER_RULE records, cycling through every
input format the worker decodes: a single Alertmanager alert, an Alertmanager webhook
and a Grafana webhook (one to three alerts of the rule), CloudEvents in structured and
binary mode (wrapping a single alert or a webhook), and PagerDuty Events v2. The text is
the rule's `eval` phrasing only (the training set uses the `train` phrasing), with
label values from pools the training generator does not use.

Source severity: an alert carries the rule's upstream severity label (`critical`,
`warning`, `info`, `none`) 60% of the time and none at all otherwise; PagerDuty events
always carry one (the API requires it: critical, warning or info).

Each line: `{"value": <record value>, "headers": {...}, "expected": [...]}` with one
expected entry per alert, in order: `severity` and `category` (decided by the rules in
alert_rules.py), `rule`, `format`, `source_severity` (the label sent, or null).
`breakwater classify` reads the same lines (it ignores `expected`).
"""
import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alert_rules import LABEL_KINDS, RULES  # noqa: E402

SEED = 4242
EVAL_RECORDS_PER_RULE = 8
FORMATS = ["alertmanager_alert", "alertmanager_webhook", "grafana_webhook", "cloudevent_structured",
           "cloudevent_binary", "pagerduty"]
PAGERDUTY_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info", "none": "info"}

# Label value pools of the evaluation set only (generate_dataset.py draws from others).
NAMESPACES = ["shop-prod", "ledger", "identity", "observability", "kube-system", "ingress-nginx", "data-platform"]
WORKLOADS = ["cart-api", "ledger-writer", "token-service", "thanos-store", "ingress-controller", "spark-operator",
             "fulfilment", "pricing-engine"]
CLUSTERS = ["eu-west-prod", "us-east-prod", "ap-south-stage"]
MOUNTS = [("/", "/dev/nvme0n1p1", "ext4"), ("/var/lib/docker", "/dev/nvme1n1", "xfs"), ("/data", "/dev/sdb1", "ext4")]
DEVICES = ["eth0", "ens5", "md0", "md1", "nvme0n1", "sda"]


def fill(rng: random.Random, rule) -> tuple[dict, dict]:
    """The labels of one alert of `rule` (without alertname/severity) and the template values."""
    workload = rng.choice(WORKLOADS)
    namespace = rng.choice(NAMESPACES)
    node = f"ip-10-{rng.randint(0, 255)}-{rng.randint(0, 255)}-{rng.randint(1, 254)}.eu-west-1.compute.internal"
    instance = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}:{rng.choice([9100, 9090, 9093, 2379, 9187, 9121])}"
    mount, device, fstype = rng.choice(MOUNTS)
    pod = f"{workload}-{rng.randrange(16**9):09x}-{rng.randrange(36**5):05x}"[:40]
    values = {
        "ns": namespace, "pod": pod, "node": node, "instance": instance, "svc": workload, "mnt": mount,
        "pvc": f"data-{workload}-{rng.randint(0, 2)}", "job": rng.choice(["kube-state-metrics", "node-exporter", "apiserver", "etcd", "blackbox", workload]),
        "cluster": rng.choice(CLUSTERS), "device": rng.choice(DEVICES) if rule.kind == "nic" else device,
        "pct": rng.randint(3, 99), "n": rng.randint(2, 60),
    }
    labels = {}
    for key in LABEL_KINDS[rule.kind]:
        labels[key] = {
            "namespace": namespace, "pod": pod, "container": workload, "job": values["job"],
            "persistentvolumeclaim": values["pvc"], "instance": instance, "node": node, "mountpoint": mount,
            "device": values["device"], "fstype": fstype, "service": workload, "cluster": values["cluster"],
            "prometheus": "monitoring/k8s",
        }[key]
    return labels, values


def alert(rng: random.Random, rule, with_severity: bool) -> tuple[dict, dict]:
    labels, values = fill(rng, rule)
    labels = {"alertname": rule.name, **labels}
    if with_severity:
        labels["severity"] = rule.upstream
    annotations = {
        "summary": rule.eval_summary.format(**values),
        "description": rule.eval_description.format(**values),
        "runbook_url": f"https://runbooks.prometheus-operator.dev/runbooks/{rule.ruleset}/{rule.name.lower()}",
    }
    body = {
        "status": "firing", "labels": labels, "annotations": annotations,
        "startsAt": f"2026-03-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": f"http://prometheus.monitoring.svc:9090/graph?g0.expr=ALERTS%7Balertname%3D%22{rule.name}%22%7D",
    }
    expected = {"severity": rule.severity, "category": rule.category, "rule": rule.name,
                "source_severity": labels.get("severity")}
    return body, expected


def webhook(rng: random.Random, rule, with_severity: bool, grafana: bool) -> tuple[dict, list]:
    alerts, expected = zip(*[alert(rng, rule, with_severity) for _ in range(rng.randint(1, 3))])
    common = {"alertname": rule.name}
    if with_severity:
        common["severity"] = rule.upstream
    payload = {
        "version": "1" if grafana else "4", "status": "firing", "receiver": "breakwater",
        "groupKey": f'{{}}:{{alertname="{rule.name}"}}', "truncatedAlerts": 0,
        "groupLabels": {"alertname": rule.name}, "commonLabels": common, "commonAnnotations": {},
        "externalURL": "https://grafana.example.org/" if grafana else "http://alertmanager.monitoring.svc:9093",
        "alerts": list(alerts),
    }
    if grafana:
        payload.update(orgId=1, title=f"[FIRING:{len(alerts)}] {rule.name}", state="alerting",
                       message=f"**Firing**\n\n{alerts[0]['annotations']['summary']}")
        for a in payload["alerts"]:
            a.update(dashboardURL="https://grafana.example.org/d/k8s", valueString=f"[ var='A' value={rng.randint(1, 99)} ]")
    return payload, list(expected)


def pagerduty(rng: random.Random, rule) -> tuple[dict, list]:
    labels, values = fill(rng, rule)
    severity = PAGERDUTY_SEVERITY[rule.upstream]
    payload = {
        "routing_key": f"{rng.randrange(16**32):032x}", "event_action": "trigger",
        "dedup_key": f"{rule.name}-{rng.randrange(16**12):012x}",
        "payload": {
            "summary": rule.eval_summary.format(**values), "source": labels.get("instance") or labels.get("cluster") or "k8s",
            "severity": severity, "class": rule.name, "component": labels.get("service") or labels.get("namespace") or "platform",
            "group": "prod", "custom_details": {"description": rule.eval_description.format(**values), "ruleset": rule.ruleset},
        },
        "client": "Alertmanager",
    }
    return payload, [{"severity": rule.severity, "category": rule.category, "rule": rule.name, "source_severity": severity}]


def record(rng: random.Random, rule, fmt: str) -> dict:
    with_severity = rng.random() < 0.6
    headers = {}
    if fmt == "pagerduty":
        value, expected = pagerduty(rng, rule)
    elif fmt == "alertmanager_alert":
        value, one = alert(rng, rule, with_severity)
        expected = [one]
    elif fmt in ("alertmanager_webhook", "grafana_webhook"):
        value, expected = webhook(rng, rule, with_severity, grafana=fmt == "grafana_webhook")
    else:
        inner = rng.choice(["alertmanager_alert", "alertmanager_webhook"])
        data = record(rng, rule, inner)
        value, expected = data["value"], data["expected"]
        attributes = {"specversion": "1.0", "id": f"{rng.randrange(16**16):016x}", "source": "//alertmanager.monitoring.svc",
                      "type": "io.prometheus.alert", "time": "2026-03-01T00:00:00Z"}
        if fmt == "cloudevent_structured":
            value = {**attributes, "datacontenttype": "application/json", "data": value}
            headers = {"content-type": "application/cloudevents+json"}
        else:
            headers = {f"ce_{k}": v for k, v in attributes.items()} | {"content-type": "application/json"}
    for entry in expected:
        entry["format"] = fmt
    return {"value": value, "headers": headers, "expected": expected}


def generate(seed: int = SEED):
    rng = random.Random(seed)
    for index, rule in enumerate(RULES):
        for n in range(EVAL_RECORDS_PER_RULE):
            yield record(rng, rule, FORMATS[(index + n) % len(FORMATS)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    for row in generate(args.seed):
        sys.stdout.write(json.dumps(row, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
