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


# Features the trained pipelines compute from that text (train.py). They live here, next
# to the text format they parse, because the pickled model refers to them by module name:
# scripts/ml-up copies this file into the model directory beside alert_runtime.py.

# The source severity levels, spelled as Severity(sourceSeverity:) in Sources/Triage maps them.
SOURCE_LEVELS = {
    "critical": "critical", "crit": "critical", "fatal": "critical", "emergency": "critical", "p1": "critical",
    "error": "high", "high": "high", "major": "high", "err": "high", "p2": "high",
    "warning": "medium", "warn": "medium", "medium": "medium", "p3": "medium",
    "low": "low", "minor": "low", "p4": "low",
    "info": "info", "informational": "info", "none": "info", "notice": "info", "p5": "info",
}


def source_level_tokens(text: str) -> list:
    """One token naming the source severity level of an alert text (`source=critical`,
    `source=unknown` for a spelling no tool uses, `source=absent` without one)."""
    for part in text.split(" | "):
        if part.startswith("severity="):
            return ["source=" + SOURCE_LEVELS.get(part[len("severity="):].strip().lower(), "unknown")]
    return ["source=absent"]


def alert_name_words(text: str) -> str:
    """The alert name of an alert text split into lowercase words (`KubePodCrashLooping` ->
    `kube pod crash looping`), so names never seen whole still share their parts."""
    name = text.split(" | ", 1)[0]
    words, current = [], ""
    for index, char in enumerate(name):
        upper_run_ends = index + 1 < len(name) and char.isupper() and name[index + 1].islower()
        if current and (char.isupper() and (not current[-1].isupper() or upper_run_ends) or not char.isalnum()):
            words.append(current)
            current = ""
        if char.isalnum():
            current += char
    if current:
        words.append(current)
    return " ".join(w.lower() for w in words)
