"""How an alert becomes the text the model reads.

This is the Python twin of `MLClient.text(for:)` in Sources/TriageML: both must
produce the same string for the same alert, or the model sees inputs unlike its
training data. Format (fields left out when absent, `|`-separated):

    <alertname> | <summary> | <description> | severity=<source severity> | k=v k=v

where the last part lists every other label sorted by key (alertname and severity
are not repeated).
"""


def alert_text(labels: dict, summary: str | None, description: str | None) -> str:
    parts = []
    if labels.get("alertname"):
        parts.append(labels["alertname"])
    if summary:
        parts.append(summary)
    if description:
        parts.append(description)
    if labels.get("severity"):
        parts.append("severity=" + labels["severity"])
    rest = [f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("alertname", "severity") and v]
    if rest:
        parts.append(" ".join(rest))
    return " | ".join(parts)
