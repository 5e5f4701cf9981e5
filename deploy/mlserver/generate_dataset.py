#!/usr/bin/env python3
"""Generates the labeled alert dataset the demo model is trained on.

Deterministic: the same seed (default 20261129) always yields the same file, so the
committed `alerts-dataset.jsonl` can be regenerated and diffed:

    python3 deploy/mlserver/generate_dataset.py > deploy/mlserver/alerts-dataset.jsonl

Each line is a JSON object: `labels`, `summary`, `description` (the alert as
Alertmanager would send it), `text` (what the model reads, see alert_text.py), and the
targets `severity` (critical|high|medium|low|info) and `category` (the nine values of
the Swift `Category` enum).

Two kinds of rows:

- Real alert rules (alert_rules.py: kubernetes-mixin, node-exporter, prometheus,
  alertmanager, etcd, blackbox, databases, ...), about four in five rows. Targets are the
  rule's documented labels. The text uses the rule's `train` phrasings only (the
  evaluation set uses the `eval` one): its `train_summary` or, for a rule that also
  exists at another severity, any of its `train_variants` (the variant's own threshold
  said several ways), with label values from pools of its own. The
  source severity label is the rule's upstream one (critical/warning/info/none) or
  another tool's spelling of the same level (crit, P1, error, warn, ...) 65% of the
  time and absent otherwise; a fifth of these rows are shaped like PagerDuty events
  (class, component, source, group, dedup_key labels; severity critical/error/warning/info).
- The original synthetic templates below, about one in five rows: every template
  belongs to one category and carries a base severity; the severity is lowered one step
  for non-production environments and raised for production alerts that mention
  customer impact. Their severity label agrees with the target 55% of the time, is a
  neighbouring value 20% of the time and is missing otherwise, so the model learns from
  the words as well as from the label.
"""
import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alert_text import alert_text  # noqa: E402
from alert_rules import LABEL_KINDS, RULES  # noqa: E402

SEVERITIES = ["critical", "high", "medium", "low", "info"]
SOURCE_SPELLING = {
    "critical": ["critical", "critical", "crit", "P1"],
    "high": ["error", "high", "major"],
    "medium": ["warning", "warning", "medium", "warn"],
    "low": ["low", "minor"],
    "info": ["info", "informational", "none"],
}
SERVICES = ["checkout", "payments", "search", "catalog", "auth", "orders", "inventory",
            "shipping", "notifications", "gateway", "billing", "profile", "recommendations"]
ENVS = ["production", "production", "production", "staging", "dev"]

# (category, base severity, alertname, summary, description); {svc}, {n}, {host} are filled in.
TEMPLATES = [
    ("availability", "critical", "ServiceDown", "{svc} is down", "All instances of {svc} fail their health check; customers cannot reach it."),
    ("availability", "high", "InstanceDown", "Instance {host} of {svc} is unreachable", "Target {host} has been down for more than {n} minutes."),
    ("availability", "high", "TargetDown", "{n}% of {svc} targets are down", "Prometheus cannot scrape {n}% of the {svc} targets."),
    ("availability", "medium", "ProbeFailed", "Blackbox probe for {svc} failing", "HTTP probe against {svc} returned no response for {n} checks."),
    ("availability", "critical", "EndpointUnavailable", "Public endpoint of {svc} unavailable", "Outage: the load balancer reports no healthy backend for {svc}."),
    ("latency", "high", "HighLatency", "{svc} p99 latency above {n}00ms", "Requests to {svc} are slow; p99 response time is {n}00ms."),
    ("latency", "medium", "SlowRequests", "Slow requests on {svc}", "{n}% of requests to {svc} take longer than 2s."),
    ("latency", "medium", "UpstreamTimeouts", "Timeouts calling {svc}", "Callers of {svc} hit request timeouts {n} times a minute."),
    ("latency", "low", "ResponseTimeDegraded", "Response time of {svc} degraded", "Median duration rose by {n}% over the last hour."),
    ("errors", "high", "HighErrorRate", "{svc} error rate is {n}%", "{svc} returns 5xx for {n}% of requests."),
    ("errors", "medium", "ExceptionsIncreasing", "Exceptions in {svc} increasing", "Unhandled exception count in {svc} doubled in {n} minutes."),
    ("errors", "critical", "PaymentFailures", "{svc}: {n}% of transactions failed", "Customers see failed transactions in {svc}; error budget exhausted."),
    ("errors", "low", "JobFailed", "Batch job in {svc} failed", "The nightly job of {svc} failed once and will retry."),
    ("saturation", "high", "HighCPU", "CPU of {host} at {n}%", "CPU usage of {svc} on {host} is above {n}% and throttling."),
    ("saturation", "high", "OOMKilled", "{svc} container OOM killed", "Container of {svc} was killed: out of memory after reaching its limit."),
    ("saturation", "medium", "MemoryPressure", "Memory usage of {svc} high", "Memory of {host} is {n}% used."),
    ("saturation", "medium", "ConsumerLag", "Kafka consumer lag for {svc} growing", "Consumer group of {svc} lags {n}000 messages; queue depth increasing."),
    ("saturation", "medium", "ConnectionPoolExhausted", "{svc} connection pool saturated", "All connections of the {svc} pool are in use."),
    ("capacity", "high", "DiskSpaceLow", "Disk on {host} {n}% full", "Filesystem /var on {host} will be full in {n} hours."),
    ("capacity", "medium", "QuotaNearlyReached", "{svc} quota nearly reached", "{svc} used {n}% of its storage quota."),
    ("capacity", "low", "CapacityForecast", "Capacity forecast for {svc}", "At the current growth {svc} needs more capacity within {n} weeks."),
    ("capacity", "critical", "FilesystemFull", "Filesystem full on {host}", "No space left on device for {svc}; writes fail."),
    ("security", "critical", "IntrusionDetected", "Possible intrusion on {host}", "Unexpected root shell spawned in {svc} container."),
    ("security", "high", "BruteForceLogin", "Brute-force login attempts on {svc}", "{n}00 failed logins from one address; unauthorized access attempts."),
    ("security", "medium", "CertificateExpiring", "TLS certificate of {svc} expires in {n} days", "The certificate served by {svc} expires soon."),
    ("security", "high", "VulnerabilityFound", "Critical CVE in {svc} image", "Image scan found a vulnerability rated 9.{n} in {svc}."),
    ("deployment", "high", "CrashLooping", "{svc} pods crashlooping", "Pod of {svc} restarted {n} times after the last rollout."),
    ("deployment", "medium", "RolloutStuck", "Rollout of {svc} stuck", "Deployment {svc} has {n} unavailable replicas after release."),
    ("deployment", "low", "CanaryDegraded", "Canary of {svc} slightly worse", "Canary release of {svc} has {n}% more errors than baseline."),
    ("deployment", "medium", "ImagePullBackOff", "Cannot pull image for {svc}", "ImagePullBackOff for {svc} after deploy."),
    ("data", "high", "ReplicationBroken", "Replication of {svc} database stopped", "Replica of {svc} stopped replicating {n} minutes ago; data consistency at risk."),
    ("data", "medium", "ReplicaLag", "Database replica for {svc} lagging", "Replication lag of {svc} replica is {n} seconds."),
    ("data", "high", "BackupFailed", "Backup of {svc} failed", "Nightly backup of the {svc} database failed; no restore point."),
    ("data", "low", "SchemaDrift", "Schema drift detected in {svc}", "ETL for {svc} found {n} unexpected columns."),
    ("other", "info", "Watchdog", "Alerting pipeline heartbeat", "This alert is always firing to prove the pipeline works."),
    ("other", "info", "MaintenanceWindow", "Maintenance window for {svc}", "Planned maintenance of {svc} starts in {n} minutes."),
    ("other", "low", "LicenseReminder", "License of {svc} renews soon", "The vendor license of {svc} renews in {n} days."),
    ("other", "info", "ConfigReloaded", "{svc} configuration reloaded", "Configuration of {svc} was reloaded {n} times today."),
]


def shift(severity: str, steps: int) -> str:
    index = min(max(SEVERITIES.index(severity) + steps, 0), len(SEVERITIES) - 1)
    return SEVERITIES[index]


def generate_synthetic(rng: random.Random):
    while True:
        category, base, alertname, summary, description = rng.choice(TEMPLATES)
        svc, env = rng.choice(SERVICES), rng.choice(ENVS)
        fill = {"svc": svc, "n": rng.randint(2, 98), "host": f"{svc}-{rng.randint(1, 40)}.node"}
        summary, description = summary.format(**fill), description.format(**fill)
        severity = base
        if env != "production" and base not in ("info",):
            severity = shift(base, 1)
        elif "customer" in description.lower() or "outage" in description.lower():
            severity = shift(base, -1)
        labels = {"alertname": alertname, "service": svc, "env": env}
        roll = rng.random()
        if roll < 0.55:
            labels["severity"] = rng.choice(SOURCE_SPELLING[severity])
        elif roll < 0.75:
            labels["severity"] = rng.choice(SOURCE_SPELLING[shift(severity, rng.choice([-1, 1]))])
        # else: no severity label at all
        if rng.random() < 0.3:
            description = None
        yield {
            "labels": labels,
            "summary": summary,
            "description": description,
            "text": alert_text(labels, summary, description),
            "severity": severity,
            "category": category,
        }


# Label value pools of the training set only (eval_set.py draws from others).
TRAIN_NAMESPACES = ["default", "payments", "search", "monitoring", "platform", "web", "batch"]
TRAIN_WORKLOADS = ["checkout", "orders", "auth", "gateway", "billing", "inventory", "prometheus-k8s", "loki-write"]
TRAIN_CLUSTERS = ["prod-1", "prod-2", "staging-1"]
TRAIN_MOUNTS = [("/", "/dev/sda1", "ext4"), ("/var/lib/kubelet", "/dev/xvdb", "xfs"), ("/srv", "/dev/vdb1", "ext4")]
TRAIN_DEVICES = ["eth1", "bond0", "md2", "sdc", "xvda", "enp3s0"]
# Other tools' spellings of the upstream levels.
UPSTREAM_SPELLING = {
    "critical": ["critical", "critical", "critical", "crit", "P1", "page"],
    "warning": ["warning", "warning", "warning", "warn", "P3", "ticket"],
    "info": ["info", "info", "informational", "P5"],
    "none": ["none", "none", "info"],
}
PAGERDUTY_SPELLING = {"critical": "critical", "high": "error", "medium": "warning", "low": "warning", "info": "info"}
TRAIN_DESCRIPTIONS = {
    "availability": "Targets of {job} stopped answering.",
    "latency": "Responses of {job} are slower than usual.",
    "errors": "{job} reports failing operations.",
    "saturation": "A resource of {job} is running hot.",
    "capacity": "{job} is running out of room.",
    "security": "Trust in {job} is at risk.",
    "deployment": "A change to {job} did not go as planned.",
    "data": "Data handled by {job} may be stale, lost or inconsistent.",
    "other": "Housekeeping signal from {job}.",
}


def generate_rule_rows(rng: random.Random):
    while True:
        rule = rng.choice(RULES)
        workload, namespace = rng.choice(TRAIN_WORKLOADS), rng.choice(TRAIN_NAMESPACES)
        mount, device, fstype = rng.choice(TRAIN_MOUNTS)
        node = f"node-{rng.randint(1, 60)}.{rng.choice(TRAIN_CLUSTERS)}.internal"
        instance = f"{workload}-{rng.randint(0, 9)}.{namespace}:{rng.choice([9100, 8080, 9090, 9187])}"
        values = {
            "ns": namespace, "pod": f"{workload}-{rng.randint(0, 999)}", "node": node, "instance": instance,
            "svc": workload, "mnt": mount, "pvc": f"storage-{workload}", "job": rng.choice([workload, "kubelet", "node", "kube-state"]),
            "cluster": rng.choice(TRAIN_CLUSTERS), "device": rng.choice(TRAIN_DEVICES) if rule.kind == "nic" else device,
            "pct": rng.randint(1, 100), "n": rng.randint(1, 90),
        }
        summary = rng.choice((rule.train_summary, *rule.train_variants)).format(**values)
        description = TRAIN_DESCRIPTIONS[rule.category].format(**values) if rng.random() < 0.5 else None
        if rng.random() < 0.2:  # shaped like a PagerDuty event
            labels = {"alertname": rule.name, "class": rule.name, "severity": PAGERDUTY_SPELLING[rule.severity],
                      "service": workload, "component": workload, "source": instance, "group": rng.choice(["prod", "platform"]),
                      "dedup_key": f"{rule.name}-{rng.randrange(16**8):08x}"}
            description = None
        else:
            labels = {"alertname": rule.name}
            for key in LABEL_KINDS[rule.kind]:
                labels[key] = {
                    "namespace": namespace, "pod": values["pod"], "container": workload, "job": values["job"],
                    "persistentvolumeclaim": values["pvc"], "instance": instance, "node": node, "mountpoint": mount,
                    "device": values["device"], "fstype": fstype, "service": workload, "cluster": values["cluster"],
                    "prometheus": "monitoring/prometheus",
                }[key]
            if rng.random() < 0.65:
                labels["severity"] = rng.choice(UPSTREAM_SPELLING[rule.upstream])
        yield {
            "labels": labels,
            "summary": summary,
            "description": description,
            "text": alert_text(labels, summary, description),
            "severity": rule.severity,
            "category": rule.category,
        }


def generate(rng: random.Random, count: int):
    synthetic, rules = generate_synthetic(rng), generate_rule_rows(rng)
    for _ in range(count):
        yield next(synthetic) if rng.random() < 0.2 else next(rules)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--count", type=int, default=12000)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    for row in generate(rng, args.count):
        sys.stdout.write(json.dumps(row, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
