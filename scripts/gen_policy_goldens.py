#!/usr/bin/env python3
"""Reference for the policy engine (SafeWatch spec §3, §5, §6) on still images, written with
PyTorch/transformers independently of the Swift code, on the tiny CLIP of the Vision fixtures.

Writes fixtures/policies/test-policies.json (three policies, one long rule that needs two pieces,
allowed rules; thresholds chosen from the reference scores so that both verdicts occur) and
fixtures/goldens/policy/images.json (per image and policy: score, global, local, kept tokens,
override, verdict, matched rule, evidence boxes).

Needs torch, transformers, Pillow, numpy. Run after scripts/gen_vision_fixtures.py.
"""

import json
import math
import os
import sys

import numpy as np
import torch
from PIL import Image, ImageOps
from transformers import CLIPModel, CLIPTokenizer
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_vision_fixtures import patch_embeds  # noqa: E402  (the MaskCLIP value path, §5.1)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "fixtures")
MODEL = os.path.join(FIX, "models", "clip-b16-tiny")
IMAGES = ["preprocess-landscape.jpg", "preprocess-portrait.jpg", "preprocess-square.jpg", "rgb8.png", "exif6.jpg"]
RHO, TAU, LAMBDA, DELTA, E, R = 0.10, 0.01, 0.5, 0.02, 3, 5

# About 180 tokens: three pieces of at most 75 (§3.6 iii).
LONG_RULE = ("a very long and detailed description of a crowded city street at night with many people walking "
             "past brightly lit shop windows while cars and buses drive slowly through the rain and neon signs "
             "reflect on the wet pavement near a busy crossing where a police officer directs the traffic and "
             "street vendors sell hot food from small carts under colourful umbrellas, and further down the road "
             "a tram rattles over old rails beside a park where dogs chase each other between tall trees and "
             "benches, while a group of friends laughs outside a cinema showing an old black and white film and a "
             "musician plays a saxophone for coins next to a fountain lit in blue and green, as delivery riders "
             "weave between taxis and an ambulance waits at the lights with its siren silent, while high above the "
             "crowd a billboard flickers with advertisements for shoes, phones and holidays by the sea, and an old "
             "woman feeds pigeons on the steps of a church whose bells ring out across the rooftops at midnight")

POLICIES = {
    "name": "test-policies", "version": "1",
    "policies": [
        {"id": "A", "name": "Animals", "blocked": ["a photo of a cat", "a dog running in a park", LONG_RULE],
         "allowed": ["a red car"]},
        {"id": "B", "name": "Space", "blocked": ["an astronaut in a space suit", {"id": "b-rocket", "text": "a rocket launch"}]},
        {"id": "C", "name": "Drinks", "blocked": ["a cup of coffee on a table", "a glass of red wine"],
         "allowed": ["a red car", "a cartoon drawing of an animal"]},
    ],
}


def normalize(v):
    return v / max(np.linalg.norm(v), 1e-12)


def rules(policy, kind):
    out = []
    for i, r in enumerate(policy.get(kind, [])):
        out.append((r["id"], r["text"]) if isinstance(r, dict) else (f"{policy['id']}.{kind}.{i + 1}", r))
    return out


def pieces(tok, text):
    """§3.3: at most 75 tokens, cut after a token ending a word."""
    tokens = tok.tokenize(text)
    out, start = [], 0
    while start < len(tokens):
        end = min(start + 75, len(tokens))
        if end < len(tokens):
            ends = [i for i in range(start, end) if tokens[i].endswith("</w>")]
            if ends:
                end = ends[-1] + 1
        out.append(tok.convert_tokens_to_ids(tokens[start:end]))
        start = end
    return out


@torch.no_grad()
def encode_rules(model, tok, texts):
    emb = {}
    for text in texts:
        vecs = []
        for piece in pieces(tok, text):
            ids = [tok.bos_token_id] + piece + [tok.eos_token_id]
            ids += [tok.pad_token_id] * (77 - len(ids))
            f = model.get_text_features(input_ids=torch.tensor([ids])).pooler_output[0].numpy().astype(np.float64)
            vecs.append(normalize(f))
        emb[text] = (normalize(np.sum(vecs, axis=0)), len(vecs))
    return emb


def main():
    model = CLIPModel.from_pretrained(MODEL, torch_dtype=torch.float32).eval()
    tok = CLIPTokenizer.from_pretrained(MODEL)
    proc = CLIPImageProcessorPil.from_pretrained(MODEL)
    texts = sorted({t for p in POLICIES["policies"] for k in ("blocked", "allowed") for _, t in rules(p, k)})
    emb = encode_rules(model, tok, texts)
    grid = model.config.vision_config.image_size // model.config.vision_config.patch_size
    n = grid * grid
    k = max(1, math.ceil(RHO * n))
    size = proc.crop_size["height"]
    results = {}
    scores = {p["id"]: [] for p in POLICIES["policies"]}
    for name in IMAGES:
        img = ImageOps.exif_transpose(Image.open(os.path.join(FIX, "images", name))).convert("RGB")
        w, h = img.size
        pixels = proc(img, return_tensors="pt")["pixel_values"]
        with torch.no_grad():
            g = normalize(model.get_image_features(pixel_values=pixels).pooler_output[0].numpy().astype(np.float64))
            z = patch_embeds(model.vision_model, model.visual_projection, pixels)[0][0].numpy().astype(np.float64)
        short, long_ = min(w, h), max(w, h)
        new_long = int(size * long_ / short)
        rw, rh = (size, new_long) if w <= h else (new_long, size)
        ox, oy = (rw - size) // 2, (rh - size) // 2
        per_policy = {}
        for p in POLICIES["policies"]:
            blocked = rules(p, "blocked")
            allowed = rules(p, "allowed")
            u = normalize(np.sum([emb[t][0] for t in sorted(t for _, t in blocked)], axis=0))
            r = z @ u
            order = sorted(range(n), key=lambda j: (-r[j], j))[:k]
            wts = np.exp((r[order] - r[order[0]]) / TAU)
            wts /= wts.sum()
            v = normalize(np.sum([wt * z[j] for wt, j in zip(wts, order)], axis=0))
            local, glob = float(v @ u), float(g @ u)
            s = LAMBDA * glob + (1 - LAMBDA) * local
            override = None
            if allowed:
                best = max(range(len(allowed)), key=lambda i: g @ emb[allowed[i][1]][0])
                if g @ emb[allowed[best][1]][0] > max(g @ emb[t][0] for _, t in blocked) + DELTA:
                    override = allowed[best][0]
            sims = [float(v @ emb[t][0]) for _, t in blocked]
            matched = max(range(len(blocked)), key=lambda i: (sims[i], -i))
            boxes = []
            for j in order[:R]:
                row, col = j // grid, j % grid
                ps = model.config.vision_config.patch_size
                x0, y0, x1, y1 = col * ps, row * ps, (col + 1) * ps, (row + 1) * ps
                sx, sy = rw / w, rh / h
                boxes.append([min(max((x0 + ox) / sx, 0), w), min(max((y0 + oy) / sy, 0), h),
                              min(max((x1 + ox) / sx, 0), w), min(max((y1 + oy) / sy, 0), h)])
            per_policy[p["id"]] = {"score": s, "global": glob, "local": local, "selected": order,
                                   "override": override, "matched_rule": blocked[matched][0],
                                   "matched_similarity": sims[matched], "boxes": boxes}
            if override is None:
                scores[p["id"]].append(s)
        results[name] = per_policy
    # Thresholds between the reference scores, so that both verdicts occur where possible.
    policies = json.loads(json.dumps(POLICIES))
    for p in policies["policies"]:
        values = sorted(scores[p["id"]])
        if values:
            mid = len(values) // 2
            p["threshold"] = {"value": float((values[mid - 1] + values[mid]) / 2 if len(values) > 1 else values[0] - 0.01)}
    for name, per_policy in results.items():
        for p in policies["policies"]:
            entry = per_policy[p["id"]]
            entry["verdict"] = entry["override"] is None and entry["score"] >= p["threshold"]["value"]
    with open(os.path.join(FIX, "policies", "test-policies.json"), "w") as f:
        json.dump(policies, f, indent=1)
        f.write("\n")
    with open(os.path.join(FIX, "goldens", "policy", "images.json"), "w") as f:
        json.dump({"model": "clip-b16-tiny", "settings": {"rho": RHO, "tau": TAU, "lambda": LAMBDA, "delta": DELTA},
                   "pieces": {t: emb[t][1] for t in texts}, "images": results}, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
