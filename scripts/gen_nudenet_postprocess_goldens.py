#!/usr/bin/env python3
"""Goldens for the detector's decoding: the `nudenet` package's own `_postprocess` (score threshold,
box conversion, scaling and clipping, cv2.dnn.NMSBoxes(…, 0.25, 0.45)) on synthetic model outputs
(offline; needs nudenet 3.4.2 and opencv-python-headless).

Writes fixtures/goldens/detector/postprocess-K.bin (a [1, 22, 400] float32 output: low-score
noise with clusters of overlapping boxes planted at random places, ties and scores near the
thresholds) and postprocess.json: per case the image size and padding it is decoded for, the
number of candidates (rows whose best class score reaches 0.2) and the package's detections.
"""
import json
import os

import numpy as np
from nudenet import nudenet

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")


def synthetic(rng):
    out = np.zeros((1, 22, 400), dtype=np.float32)
    out[0, :4] = rng.uniform(0, 320, size=(4, 400)).astype(np.float32)
    out[0, 2:4] = rng.uniform(4, 60, size=(2, 400)).astype(np.float32)
    out[0, 4:] = rng.uniform(0, 0.19, size=(18, 400)).astype(np.float32)
    anchor = 0
    for _ in range(12):
        cx, cy, w, h = rng.uniform(20, 300), rng.uniform(20, 300), rng.uniform(10, 120), rng.uniform(10, 120)
        cls = rng.integers(0, 18)
        for _ in range(rng.integers(1, 8)):
            jitter = rng.normal(0, 4, size=4)
            out[0, :4, anchor] = [cx + jitter[0], cy + jitter[1], w + jitter[2], h + jitter[3]]
            out[0, 4 + cls, anchor] = rng.choice([rng.uniform(0.2, 0.99), 0.2, 0.25, 0.5])
            anchor += 1
    # Two classes tied at the best score: the first one wins, as numpy's argmax.
    out[0, 4 + 3, anchor] = out[0, 4 + 7, anchor] = 0.6
    out[0, :4, anchor] = [100, 100, 30, 30]
    return out


def main():
    rng = np.random.default_rng(7)
    cases = {}
    for k, (width, height) in enumerate(((640, 480), (480, 640), (320, 320), (1024, 768), (37, 53))):
        out = synthetic(rng)
        size = max(width, height)
        x_pad, y_pad = size - width, size - height
        detections = nudenet._postprocess([out], x_pad, y_pad, size / width, size / height, width, height, 320, 320)
        rows = np.transpose(np.squeeze(out))
        candidates = int(sum(1 for r in rows if np.amax(r[4:]) >= 0.2))
        out.astype("<f4").tofile(os.path.join(FIX, "goldens", "detector", f"postprocess-{k}.bin"))
        cases[str(k)] = {"width": width, "height": height, "x_pad": x_pad, "y_pad": y_pad, "candidates": candidates,
                         "detections": detections}
    with open(os.path.join(FIX, "goldens", "detector", "postprocess.json"), "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
