#!/usr/bin/env python3
"""Goldens for the detector's input: the `nudenet` package's own `_read_image` (its colour
conversion, padding to a square at the right and bottom, cv2.dnn.blobFromImage to 320 with swapRB
and 1/255) on pictures whose pixels a formula gives, handed over as OpenCV's BGR arrays (so no
image file is needed: the Swift test computes the same pixels). fixtures/goldens/detector/input.json:
per size, the SHA-256 of the float32 blob's bytes and a few values. Offline; needs nudenet 3.4.2
and opencv-python-headless.
"""
import hashlib
import json
import os

import cv2
import numpy as np
from nudenet import nudenet

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")


def picture(width, height):
    """RGB pixels (x·7 + y·13 + c·29 + (x·y) mod 17) mod 256, as the test makes them."""
    y, x, c = np.meshgrid(np.arange(height), np.arange(width), np.arange(3), indexing="ij")
    return ((x * 7 + y * 13 + c * 29 + (x * y) % 17) % 256).astype(np.uint8)


def main():
    cases = {}
    for width, height in ((61, 45), (333, 250), (250, 333), (640, 480), (1024, 768), (320, 320), (320, 200)):
        bgr = np.ascontiguousarray(picture(width, height)[:, :, ::-1])
        blob = nudenet._read_image(bgr, 320)[0]
        cases[f"{width}x{height}"] = {"sha256": hashlib.sha256(blob.astype("<f4").tobytes()).hexdigest(),
                                      "samples": [float(blob.flat[i]) for i in (0, 1000, 150_000, 307_199)]}
    with open(os.path.join(FIX, "goldens", "detector", "input.json"), "w") as f:
        json.dump({"cases": cases, "generator": {"opencv": cv2.__version__}}, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
