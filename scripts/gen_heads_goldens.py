#!/usr/bin/env python3
"""Goldens for the linear heads' logistic regression, from scikit-learn (offline; CI reads the file).

fixtures/goldens/bench/logistic.json: 120 unit vectors of dimension 16 (the shape of image
embeddings), imbalanced labels (about 30% unsafe) drawn from a logistic model, and for C in
{0.01, 0.1, 1, 10, 100} the coefficients, intercept and training-set probabilities of
`LogisticRegression(C=C, class_weight="balanced", solver="newton-cholesky", tol=1e-12)`.
"""
import json
import os

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


if __name__ == "__main__":
    main()
