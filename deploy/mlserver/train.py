#!/usr/bin/env python3
"""Trains the demo alert classifier from the committed JSONL dataset.

Two scikit-learn pipelines, one for severity and one for category, saved together with
joblib to OUT (never committed; scripts/ml-up trains into .run/mlserver/). Each reads
the alert text (alert_text.py) through three feature sets: TF-IDF over word 1-2-grams
of the whole text, TF-IDF over character 3-5-grams of the alert name split into words
(so unseen names still share parts with known ones), and the source severity level as
one feature of its own; then a logistic regression. With --evaluate it first fits on
80% and prints the accuracy on the held-out 20% (doubles the training time).

    python3 train.py [--evaluate] alerts-dataset.jsonl OUT/model.joblib

The pickled pipelines refer to alert_text's feature functions by module name, so
alert_text.py must be importable where the model is loaded (ml-up copies it).

Measured with --evaluate on the committed dataset: severity 0.988, category 1.000.
scripts/eval-classifier scores the served model on the separate evaluation set.
"""
import json
import sys
from pathlib import Path

import joblib
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alert_text import alert_name_words, source_level_tokens  # noqa: E402

SEED = 20261129


def pipeline() -> Pipeline:
    features = FeatureUnion([
        # Single characters are words too: "4 hours" and "3%" must not lose their number
        # (the default pattern drops one-character tokens).
        ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, token_pattern=r"(?u)\b\w+\b")),
        ("name", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), preprocessor=alert_name_words, sublinear_tf=True)),
        ("source", TfidfVectorizer(analyzer=source_level_tokens, use_idf=False, norm=None)),
    ])
    return Pipeline([
        ("features", features),
        ("clf", LogisticRegression(max_iter=3000, C=20.0, random_state=SEED)),
    ])


def main() -> None:
    args = sys.argv[1:]
    evaluate = "--evaluate" in args
    args = [a for a in args if a != "--evaluate"]
    if len(args) != 2:
        sys.exit("usage: train.py [--evaluate] DATASET.jsonl OUT.joblib")
    dataset, out = args
    with open(dataset, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    texts = [r["text"] for r in rows]
    models = {}
    for target in ("severity", "category"):
        labels = [r[target] for r in rows]
        if evaluate:
            x_train, x_test, y_train, y_test = train_test_split(texts, labels, test_size=0.2, random_state=SEED, stratify=labels)
            held_out = pipeline().fit(x_train, y_train)
            print(f"{target}: hold-out accuracy {held_out.score(x_test, y_test):.3f}", file=sys.stderr)
        models[target] = pipeline().fit(texts, labels)
    joblib.dump(models, out)


if __name__ == "__main__":
    main()
