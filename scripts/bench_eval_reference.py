#!/usr/bin/env python3
"""Reference for `guardrail-bench eval`: the figures `guardrail bench --classifier heads:FILE` computes,
as a plain Python loop with `transformers` and scikit-learn.

Usage: bench_eval_reference.py MODEL_FOLDER HEADS_FILE MANIFEST ROBUST_ITEMS
For every item: Pillow decode (exif_transpose, RGB), CLIPImageProcessor, CLIPModel.get_image_features
in batches of 8, L2-normalised, the heads' probabilities, a decision at each head's threshold; then
per category and source the confusion counts, precision, recall, F1, AUROC and AP (scikit-learn);
then robustness on up to ROBUST_ITEMS correctly classified items drawn with seed 2023: Gaussian
noise of L2 norm 0.01 on the normalised tensor (clipped to ±3) and JPEG re-compression at quality
50. Prints one JSON object: wall seconds, items, and the micro F1 / AUROC and robust accuracies for
an agreement check. Not run in CI.
"""
import csv
import io
import json
import os
import random
import sys
import time

import numpy as np
import torch
from PIL import Image, ImageOps
from safetensors import safe_open
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score
from transformers import CLIPImageProcessor, CLIPModel


def finite(x):
    """NaN (undefined) as None, which JSON can hold."""
    return None if np.isnan(x) else float(x)


def readable(path):
    """Whether Pillow decodes the file (unreadable items are left out, as the engine leaves them out)."""
    try:
        Image.open(path).convert("RGB")
        return True
    except Exception:
        return False


def main():
    model_folder, heads_file, manifest, robust_items = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    torch.set_num_threads(2)
    model = CLIPModel.from_pretrained(model_folder, dtype=torch.float32).eval()
    start = time.perf_counter()  # after loading, as the engine's side is timed
    # The model's preprocessor_config.json, else CLIP's defaults (224, bicubic, centre crop, CLIP mean/std).
    has_config = os.path.exists(os.path.join(model_folder, "preprocessor_config.json"))
    processor = CLIPImageProcessor.from_pretrained(model_folder) if has_config else CLIPImageProcessor()
    with safe_open(heads_file, "np") as f:
        weight, bias = f.get_tensor("weight").astype(np.float64), f.get_tensor("bias").astype(np.float64)
        meta = f.metadata()
    categories = json.loads(meta["categories"])
    thresholds = [0.5 if t is None else t for t in json.loads(meta["thresholds"])]
    root = os.path.dirname(manifest)
    with open(manifest) as f:
        rows = [r for r in csv.DictReader(f) if readable(os.path.join(os.path.dirname(manifest), r["path"]))]

    def load(row):
        return ImageOps.exif_transpose(Image.open(os.path.join(root, row["path"]))).convert("RGB")

    def embed(pixel_values):
        with torch.no_grad():
            features = model.get_image_features(pixel_values=pixel_values)
        if not isinstance(features, torch.Tensor):  # newer transformers return a model output
            features = features.pooler_output
        features = features.double().numpy()
        return features / np.linalg.norm(features, axis=1, keepdims=True)

    def classify(images, noise=None):
        pixels = processor(images=images, return_tensors="pt")["pixel_values"]
        if noise is not None:
            pixels = noise(pixels)
        p = 1 / (1 + np.exp(-(embed(pixels) @ weight.T + bias)))
        return p

    probabilities = []
    for i in range(0, len(rows), 8):
        probabilities.extend(classify([load(r) for r in rows[i:i + 8]]))
    figures = {}
    correct = []
    labels_all, scores_all, decisions_all = [], [], []
    for k, category in enumerate(categories):
        idx = [i for i, r in enumerate(rows) if r["category"] == category]
        labels = np.array([rows[i]["label"] == "unsafe" for i in idx], dtype=int)
        scores = np.array([probabilities[i][k] for i in idx])
        decisions = (scores >= thresholds[k]).astype(int)
        for source in ("real", "generated", "both"):
            sel = [j for j, i in enumerate(idx) if source == "both" or rows[i]["source"] == source]
            if not sel:
                continue
            y, s, d = labels[sel], scores[sel], decisions[sel]
            figures[f"{category}/{source}"] = {
                "precision": finite(precision_score(y, d, zero_division=np.nan)),
                "recall": finite(recall_score(y, d, zero_division=np.nan)),
                "f1": finite(f1_score(y, d, zero_division=np.nan)),
                "auroc": float(roc_auc_score(y, s)) if len(set(y)) == 2 else None,
                "auprc": float(average_precision_score(y, s)) if y.sum() else None}
        labels_all += labels.tolist()
        scores_all += scores.tolist()
        decisions_all += decisions.tolist()
        correct += [i for j, i in enumerate(idx) if decisions[j] == labels[j]]
    # Robustness: the engine's draw is its own (SplitMix64); the same count is drawn here.
    rng = random.Random(2023)
    drawn = sorted(rng.sample(sorted(correct), min(robust_items, len(correct))))

    def gaussian(pixels):
        g = torch.Generator().manual_seed(2023)
        noise = torch.randn(pixels.shape, generator=g, dtype=torch.float64)
        norms = noise.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        return (pixels.double() + 0.01 * noise / norms).clamp(-3, 3).float()

    def jpeg(image):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=50)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")

    robust = {}
    for name in ("noise:0.01", "jpeg:50"):
        still = 0
        for i in range(0, len(drawn), 8):
            batch = drawn[i:i + 8]
            images = [load(rows[j]) for j in batch]
            if name.startswith("jpeg"):
                p = classify([jpeg(im) for im in images])
            else:
                p = classify(images, noise=gaussian)
            for j, probs in zip(batch, p):
                k = categories.index(rows[j]["category"])
                still += int((probs[k] >= thresholds[k]) == (rows[j]["label"] == "unsafe"))
        robust[name] = still / len(drawn) if drawn else None
    seconds = time.perf_counter() - start
    y = np.array(labels_all)
    print(json.dumps({"seconds": seconds, "items": len(rows), "robust_items": len(drawn),
                      "micro_f1": finite(f1_score(y, np.array(decisions_all), zero_division=np.nan)),
                      "micro_auroc": float(roc_auc_score(y, np.array(scores_all))), "robust": robust,
                      "figures": figures}))


if __name__ == "__main__":
    main()
