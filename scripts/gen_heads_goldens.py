#!/usr/bin/env python3
"""Goldens for the linear heads' logistic regression, from scikit-learn (offline; CI reads the file).

fixtures/goldens/bench/logistic.json: 120 unit vectors of dimension 16 (the shape of image
embeddings), imbalanced labels (about 30% unsafe) drawn from a logistic model, and for C in
{0.01, 0.1, 1, 10, 100} the coefficients, intercept and training-set probabilities of
`LogisticRegression(C=C, class_weight="balanced", solver="newton-cholesky", tol=1e-12)`.

fixtures/goldens/bench/heads_set.json: the same fits on real model embeddings: per category of the
labelled fixture set (fixtures/bench/set, train split), `transformers`' `CLIPModel.get_image_features`
of fixtures/models/clip-b16-tiny on Pillow's pictures, L2-normalised, and the class-weighted fit at
C = 10 (the value train-heads' cross-validation picks there), with its probabilities.
"""
import json
import os

import csv

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")


def main():
    rng = np.random.default_rng(2023)
    x = rng.normal(size=(120, 16))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    true_w = rng.normal(scale=4, size=16)
    logits = x @ true_w - 1.5
    y = (rng.random(120) < 1 / (1 + np.exp(-logits))).astype(int)
    fits = []
    for c in (0.01, 0.1, 1.0, 10.0, 100.0):
        model = LogisticRegression(C=c, class_weight="balanced", solver="newton-cholesky", tol=1e-12, max_iter=1000)
        model.fit(x, y)
        fits.append({"c": c, "weight": model.coef_[0].tolist(), "bias": float(model.intercept_[0]),
                     "probabilities": model.predict_proba(x)[:, 1].tolist()})
    out = {"x": x.tolist(), "labels": y.tolist(), "fits": fits, "generator": {"scikit-learn": sklearn.__version__}}
    os.makedirs(os.path.join(FIX, "goldens", "bench"), exist_ok=True)
    with open(os.path.join(FIX, "goldens", "bench", "logistic.json"), "w") as f:
        json.dump(out, f)
        f.write("\n")
    heads_on_model_embeddings()


def heads_on_model_embeddings():
    import torch
    from PIL import Image, ImageOps
    from transformers import CLIPImageProcessor, CLIPModel

    folder = os.path.join(FIX, "models", "clip-b16-tiny")
    # float32 as the engine computes (transformers 5 would otherwise keep the checkpoint's bfloat16).
    model = CLIPModel.from_pretrained(folder, dtype=torch.float32).eval()
    processor = CLIPImageProcessor.from_pretrained(folder)
    root = os.path.join(FIX, "bench", "set")
    with open(os.path.join(root, "manifest.csv")) as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "train" and os.path.exists(os.path.join(root, r["path"]))]
    out = {"c": 10.0, "categories": {}, "generator": {"scikit-learn": sklearn.__version__, "torch": torch.__version__}}
    for category in sorted({r["category"] for r in rows}):
        members = [r for r in rows if r["category"] == category]
        images = [ImageOps.exif_transpose(Image.open(os.path.join(root, r["path"]))).convert("RGB") for r in members]
        with torch.no_grad():
            features = model.get_image_features(pixel_values=processor(images=images, return_tensors="pt")["pixel_values"])
        if not isinstance(features, torch.Tensor):
            features = features.pooler_output
        x = features.double().numpy()
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        y = np.array([r["label"] == "unsafe" for r in members], dtype=int)
        fit = LogisticRegression(C=10.0, class_weight="balanced", solver="newton-cholesky", tol=1e-12, max_iter=1000)
        fit.fit(x, y)
        out["categories"][category] = {"paths": [r["path"] for r in members], "weight": fit.coef_[0].tolist(),
                                       "bias": float(fit.intercept_[0]),
                                       "probabilities": fit.predict_proba(x)[:, 1].tolist()}
    with open(os.path.join(FIX, "goldens", "bench", "heads_set.json"), "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
