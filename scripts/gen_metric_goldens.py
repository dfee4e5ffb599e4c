#!/usr/bin/env python3
"""Metric goldens for `guardrail bench`, computed with scikit-learn (offline; CI only reads the files).

Writes fixtures/bench/metrics/: a manifest of 150 items in three categories (Sexual, Violence, Hate;
real and generated; Hate all safe, so single-class), and three external classifiers' prediction
files: `a.csv` (scores rounded to one decimal, so ties abound; covers Sexual and Violence; a few
items left out), `b.jsonl` (labels only, every category), `c.csv` (scores with an explicit label
column that disagrees with the 0.5 rule, Sexual only). fixtures/goldens/bench/metrics.json holds,
per classifier and mode (category-conditioned, agnostic), per category and source (real, generated,
both): n, tp, fp, tn, fn, precision, recall, F1, accuracy, FPR (`zero_division=nan`, written as
null), `roc_auc_score` and `average_precision_score` (null when undefined: one class, no positives,
or no scores), micro (pooled) and macro (mean of defined per-category values).
"""
import csv
import json
import os
import random
import warnings

import numpy as np
from sklearn.metrics import (accuracy_score, average_precision_score, confusion_matrix, f1_score,
                             precision_score, recall_score, roc_auc_score)

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
OUT = os.path.join(FIX, "bench", "metrics")
CATEGORIES = ["Sexual", "Violence", "Hate"]


def items():
    rng = random.Random(2023)
    rows = []
    for c, category in enumerate(CATEGORIES):
        for i in range(50):
            unsafe = 0 if category == "Hate" else int(rng.random() < 0.4)
            rows.append({"path": f"{category.lower()}/{i:03d}.png", "category": category,
                         "label": "unsafe" if unsafe else "safe",
                         "source": "real" if i % 2 == 0 else "generated",
                         "split": "train" if i % 5 else "test"})
    return rows


def predictions(rows):
    rng = random.Random(7)
    a, b, c = [], [], []
    for row in rows:
        unsafe = row["label"] == "unsafe"
        for category in CATEGORIES:
            # Class-dependent scores, one decimal: informative but far from perfect, with ties.
            base = 0.6 if unsafe and category == row["category"] else 0.35
            score = round(min(1.0, max(0.0, rng.gauss(base, 0.2))), 1)
            if category in ("Sexual", "Violence") and rng.random() > 0.04:
                a.append({"path": row["path"], "category": category, "score": score})
            if category == row["category"]:
                b.append({"path": row["path"], "category": category,
                          "label": int(unsafe if rng.random() < 0.8 else not unsafe)})
            if category == "Sexual":
                c.append({"path": row["path"], "category": category, "score": round(rng.random(), 3),
                          "label": "unsafe" if rng.random() < 0.3 else "safe"})
    return a, b, c


def nan_to_none(x):
    return None if x is None or (isinstance(x, float) and np.isnan(x)) else float(x)


def figures(labels, decisions, scores):
    labels = np.array(labels, dtype=int)
    decisions = np.array(decisions, dtype=int)
    tn, fp, fn, tp = confusion_matrix(labels, decisions, labels=[0, 1]).ravel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = {"n": int(len(labels)), "tp": int(tp), "fp": int(fp), "tn": int(tn), "fn": int(fn),
               "precision": nan_to_none(precision_score(labels, decisions, zero_division=np.nan)),
               "recall": nan_to_none(recall_score(labels, decisions, zero_division=np.nan)),
               "f1": nan_to_none(f1_score(labels, decisions, zero_division=np.nan)),
               "accuracy": nan_to_none(accuracy_score(labels, decisions)),
               "fpr": nan_to_none(fp / (fp + tn)) if fp + tn else None,
               "auroc": None, "auprc": None}
        if scores is not None and len(set(labels)) == 2:
            out["auroc"] = float(roc_auc_score(labels, scores))
        if scores is not None and labels.sum() > 0:
            out["auprc"] = float(average_precision_score(labels, scores))
    return out


def breakdown(selected):
    result = {}
    for source in ("real", "generated", "both"):
        rows = [r for r in selected if source == "both" or r["source"] == source]
        if not rows:
            result[source] = None
            continue
        scores = [r["score"] for r in rows]
        result[source] = figures([r["label"] for r in rows], [r["decision"] for r in rows],
                                 None if any(s is None for s in scores) else scores)
    return result


def evaluate(rows, preds, covers, mode):
    table = {}
    for p in preds:
        table.setdefault(p["path"], {})[p["category"]] = p
    by_category, missing = {}, 0
    for row in rows:
        if row["category"] not in covers:
            continue
        said = table.get(row["path"], {})
        if mode == "category-conditioned":
            out = said.get(row["category"])
            if out is None:
                missing += 1
                continue
            score, decision = out.get("score"), decide(out)
        else:
            outs = [said[c] for c in covers if c in said]
            if not outs:
                missing += 1
                continue
            scores = [o.get("score") for o in outs]
            score = None if any(s is None for s in scores) else max(scores)
            decision = int(any(decide(o) for o in outs))
        by_category.setdefault(row["category"], []).append(
            {"label": int(row["label"] == "unsafe"), "decision": decision, "score": score, "source": row["source"]})
    categories = {c: breakdown(v) for c, v in by_category.items()}
    micro = breakdown([r for c in sorted(by_category) for r in by_category[c]])
    macro = {}
    for source in ("real", "generated", "both"):
        per = [categories[c][source] for c in sorted(categories) if categories[c][source] is not None]
        entry = {"categories": sum(1 for m in per if m["f1"] is not None)}
        for key in ("precision", "recall", "f1", "accuracy", "fpr", "auroc", "auprc"):
            values = [m[key] for m in per if m[key] is not None]
            entry[key] = float(np.mean(values)) if values else None
        macro[source] = entry
    return {"missing": missing, "categories": categories, "micro": micro, "macro": macro}


def decide(out):
    if "label" in out:
        return int(out["label"] in (1, "1", "unsafe"))
    return int(out["score"] > 0.5)


def main():
    os.makedirs(OUT, exist_ok=True)
    rows = items()
    with open(os.path.join(OUT, "manifest.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "category", "label", "source", "split"])
        w.writeheader()
        w.writerows(rows)
    a, b, c = predictions(rows)
    for name, preds, fields in (("a.csv", a, ["path", "category", "score"]),
                                ("c.csv", c, ["path", "category", "score", "label"])):
        with open(os.path.join(OUT, name), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(preds)
    with open(os.path.join(OUT, "b.jsonl"), "w") as f:
        for p in b:
            f.write(json.dumps(p) + "\n")
    goldens = {}
    for name, preds in (("a", a), ("b", b), ("c", c)):
        covers = sorted({p["category"] for p in preds})
        goldens[name] = {mode: evaluate(rows, preds, covers, mode)
                         for mode in ("category-conditioned", "agnostic")}
    gold = os.path.join(FIX, "goldens", "bench")
    os.makedirs(gold, exist_ok=True)
    import sklearn
    with open(os.path.join(gold, "metrics.json"), "w") as f:
        json.dump({"classifiers": goldens, "generator": {"scikit-learn": sklearn.__version__}}, f, indent=1,
                  sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
