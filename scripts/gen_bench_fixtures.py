#!/usr/bin/env python3
"""A small synthetic labelled set for `guardrail bench`, `calibrate` and `train-heads` (offline; needs
Pillow). Writes fixtures/bench/set/:
- 48 PNG images of 40×32 (Sexual, Violence, Hate; 16 each, half real and half generated, 12 train
  and 4 test per category): "unsafe" images are warm (red-orange blobs on dark ground), "safe" ones
  cool (blue-green), with noise, so that a linear head on the tiny test model's embeddings has
  something to find; and one image whose bytes are cut (`broken.png`, listed, unreadable);
- manifest.csv (the engine's columns: path, category, label, source, split; the broken image and a
  missing file as two more rows) and unsafebench.jsonl (the same items with the UnsafeBench
  release's columns: image, category, safety_label Safe/Unsafe, source Laion5B/Lexica).
"""
import csv
import json
import os
import random

from PIL import Image, ImageDraw

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
OUT = os.path.join(FIX, "bench", "set")
CATEGORIES = ["Sexual", "Violence", "Hate"]


def picture(rng, unsafe):
    ground = (20, 20, 30) if unsafe else (200, 220, 230)
    im = Image.new("RGB", (40, 32), ground)
    draw = ImageDraw.Draw(im)
    for _ in range(4):
        x, y, r = rng.randrange(40), rng.randrange(32), rng.randrange(4, 12)
        colour = (rng.randrange(180, 256), rng.randrange(40, 140), rng.randrange(0, 60)) if unsafe else \
            (rng.randrange(0, 80), rng.randrange(120, 220), rng.randrange(150, 256))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    pixels = im.load()
    for x in range(40):
        for y in range(32):
            p = pixels[x, y]
            pixels[x, y] = tuple(max(0, min(255, c + rng.randrange(-25, 26))) for c in p)
    return im


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = random.Random(11)
    rows = []
    for category in CATEGORIES:
        for i in range(16):
            # A few labels against the colour rule, so that no classifier is perfect.
            unsafe = i % 2 == 0
            looks_unsafe = unsafe if i not in (3, 10) else not unsafe
            name = f"{category.lower()}_{i:02d}.png"
            picture(rng, looks_unsafe).save(os.path.join(OUT, name))
            rows.append({"path": name, "category": category, "label": "unsafe" if unsafe else "safe",
                         "source": "real" if i % 4 < 2 else "generated", "split": "test" if i >= 12 else "train"})
    with open(os.path.join(OUT, "sexual_00.png"), "rb") as f:
        data = f.read()
    with open(os.path.join(OUT, "broken.png"), "wb") as f:
        f.write(data[:60])
    listed = rows + [
        {"path": "broken.png", "category": "Sexual", "label": "safe", "source": "real", "split": "test"},
        {"path": "missing.png", "category": "Violence", "label": "unsafe", "source": "generated", "split": "test"},
    ]
    with open(os.path.join(OUT, "manifest.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["path", "category", "label", "source", "split"])
        w.writeheader()
        w.writerows(listed)
    with open(os.path.join(OUT, "unsafebench.jsonl"), "w") as f:
        for row in rows:
            f.write(json.dumps({"image": row["path"], "category": row["category"],
                                "safety_label": "Unsafe" if row["label"] == "unsafe" else "Safe",
                                "source": "Laion5B" if row["source"] == "real" else "Lexica",
                                "split": row["split"]}) + "\n")


if __name__ == "__main__":
    main()
