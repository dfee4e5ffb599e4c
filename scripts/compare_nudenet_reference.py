#!/usr/bin/env python3
"""The engine's NudeNet detector against the `nudenet` package on real photos (offline, not in CI;
needs nudenet 3.4.2, opencv-python-headless, onnxruntime, Pillow, and a built guardrail).

Usage: compare_nudenet_reference.py GUARDRAIL_BINARY MODEL_ONNX
Makes test pictures from the fixture photos (each at its size, upscaled to 1024×768 as JPEG q90,
mirrored, as grey PNG, with EXIF orientation 6, padded with a border), runs the package's
NudeDetector and the pre-NMS candidate count (rows of the raw output whose best class score
reaches 0.2), and `guardrail detect --json`, and checks: the same classes in the same order,
scores within 1e-4, boxes within 1 pixel, the same candidate count. Prints one line per picture
and exits 1 on any disagreement.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnxruntime
from nudenet import NudeDetector, nudenet
from PIL import Image, ImageOps

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")


def pictures(folder):
    made = []
    for name in ("landscape", "portrait", "square"):
        photo = Image.open(os.path.join(FIX, "images", f"preprocess-{name}.jpg")).convert("RGB")
        variants = {
            f"{name}.png": photo,
            f"{name}-1024x768.jpg": photo.resize((1024, 768), Image.BICUBIC),
            f"{name}-mirror.png": ImageOps.mirror(photo),
            f"{name}-grey.png": photo.convert("L"),
            f"{name}-border.png": ImageOps.expand(photo, border=(40, 10, 0, 60), fill=(30, 30, 30)),
        }
        for file, image in variants.items():
            path = os.path.join(folder, file)
            image.save(path, quality=90) if file.endswith(".jpg") else image.save(path)
            made.append(path)
        exif = Image.Exif()
        exif[0x0112] = 6
        path = os.path.join(folder, f"{name}-exif6.jpg")
        photo.rotate(90, expand=True).save(path, quality=95, exif=exif.tobytes())
        made.append(path)
    return made


def main():
    binary, model = sys.argv[1], sys.argv[2]
    detector = NudeDetector(model_path=model)
    session = onnxruntime.InferenceSession(model)
    failures = 0
    with tempfile.TemporaryDirectory() as folder:
        for path in pictures(folder):
            expected = detector.detect(path)
            blob = nudenet._read_image(path, 320)[0]
            rows = np.transpose(np.squeeze(session.run(None, {"images": blob})[0]))
            candidates = int(sum(1 for r in rows if np.amax(r[4:]) >= 0.2))
            run = subprocess.run([binary, "detect", path, "--detector-model", model, "--json"], capture_output=True,
                                 text=True, check=True)
            frame = json.loads(run.stdout)["frames"][0]
            got = frame["detections"]
            same = (len(got) == len(expected) and frame["candidates"] == candidates
                    and all(g["label"] == e["class"] and abs(g["score"] - e["score"]) < 1e-4
                            and max(abs(a - b) for a, b in zip(g["box"], e["box"])) <= 1 for g, e in zip(got, expected)))
            failures += not same
            worst = max([abs(g["score"] - e["score"]) for g, e in zip(got, expected)] or [0])
            print(f"{'ok  ' if same else 'DIFF'} {os.path.basename(path):28} {len(expected)} detections, "
                  f"{candidates} candidates (engine {frame['candidates']}), max score difference {worst:.2e}"
                  + ("" if same else f"\n     package {expected}\n     engine  {got}"))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
