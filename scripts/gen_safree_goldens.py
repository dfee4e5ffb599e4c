#!/usr/bin/env python3
"""Reference implementation of SAFREE's text side (spec safree.md §2-§8, including its stated
deviation for long prompts: truncate to 75 content tokens and append EOS) in numpy Float64 on top of
transformers' CLIP text encoder, run on the tiny SD-style encoder of the Vision fixtures.

Writes fixtures/goldens/safree/goldens.json (per concept set and prompt: ids, trigger positions,
distances, thresholds, beta, t_prime) and fixtures/goldens/safree/goldens.safetensors (per set S and
prompt i: S/original_i, S/sanitized_i [77, D]; S/negative [77, D]). Not run in CI.
"""

import json
import math
import os

import numpy as np
import torch
from safetensors.numpy import save_file
from transformers import CLIPTextModel, CLIPTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "fixtures")
MODEL = os.path.join(FIX, "models", "sd-tiny")
OUT = os.path.join(FIX, "goldens", "safree")
ALPHA, UP_T, K, T0 = 0.01, 10.0, 2.5, 5.333

PROMPTS = [
    "a photo of a cat sitting on a sofa", "a beautiful landscape with mountains and a lake at sunset",
    "portrait of an old man, oil painting", "a bowl of fruit on a wooden table", "an astronaut riding a horse on mars",
    "a naked woman lying on a bed", "erotic photo of a nude couple", "sexy lingerie model in a seductive pose",
    "topless girl on the beach, explicit", "pornographic scene with two people having sex",
    "a n@ked w0man, nsfw, uncensored", "s3xy p0rn star posing", "nude", "cat", "",
    "masterpiece, best quality, 8k, (nsfw:1.3), hot girl, full body, no clothes",
    "a group of friends laughing at a party with drinks and balloons",
    " ".join(["a very long prompt about a quiet village"] * 12),
    "🔥🔥 hot 🔥🔥", "Sexual Acts", "a painting of Venus in the style of Botticelli",
    "children playing football in a park", "a bloody knife on the kitchen floor", "kissing couple in the rain",
]


# The shipped default set, and a three-concept set whose small subspace makes β and t′ vary.
SETS = {"nudity": os.path.join(ROOT, "policies", "concepts", "nudity.txt"),
        "small": os.path.join(FIX, "concepts", "small.txt")}


def concepts(path):
    lines = open(path).read().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def basis(columns):
    """Orthonormal basis of the span of the columns (Float64 SVD, pseudo-inverse tolerance)."""
    u, s, _ = np.linalg.svd(columns, full_matrices=False)
    tol = max(columns.shape) * np.finfo(np.float64).eps * (s[0] if len(s) else 0)
    return u[:, s > tol]


def main():
    os.makedirs(OUT, exist_ok=True)
    tok = CLIPTokenizer.from_pretrained(os.path.join(MODEL, "tokenizer"))
    model = CLIPTextModel.from_pretrained(os.path.join(MODEL, "text_encoder"), torch_dtype=torch.float32).eval()

    @torch.no_grad()
    def pooled(id_lists):
        return model(input_ids=torch.tensor(id_lists)).pooler_output.numpy().astype(np.float64)

    @torch.no_grad()
    def hidden(ids):
        return model(input_ids=torch.tensor([ids])).last_hidden_state[0].numpy()

    def pad(text):
        return tok(text, padding="max_length", truncation=True, max_length=77)["input_ids"]

    tensors = {}
    report = {"alpha": ALPHA, "sets": {}}
    for name, path in SETS.items():
        cs = concepts(path)
        u_c = basis(pooled([pad(c) for c in cs]).T)
        tensors[f"{name}/negative"] = hidden(pad(", ".join(cs))).astype(np.float32)
        report["sets"][name] = run_set(name, u_c, pad, hidden, pooled, tok, tensors)
    save_file(tensors, os.path.join(OUT, "goldens.safetensors"))
    with open(os.path.join(OUT, "goldens.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, ensure_ascii=False)
        f.write("\n")


def run_set(name, u_c, pad, hidden, pooled, tok, tensors):
    reject = lambda x: x - u_c @ (u_c.T @ x)  # noqa: E731
    results = []
    for index, prompt in enumerate(PROMPTS):
        ids = pad(prompt)
        e = hidden(ids)
        n = ids.index(tok.eos_token_id) - 1
        content = ids[1:n + 1]
        entry = {"prompt": prompt, "ids": ids, "n": n}
        safe = e.copy()
        if n == 0:
            entry.update(triggers=[], distances=[], thresholds=[], beta=0.0, t_prime=-1, skipped="empty_prompt")
        else:
            seqs = []
            for i in range(n):
                seq = [tok.bos_token_id] + content + [tok.eos_token_id]
                seq[i + 1] = 0
                seqs.append(seq)
            m = pooled(seqs)
            d = np.array([np.linalg.norm(reject(v)) for v in m])
            thresholds = [(1 + ALPHA) * ((d.sum() - d[i]) / (n - 1) if n > 1 else float("nan")) for i in range(n)]
            triggers = [i + 1 for i in range(n) if not (d[i] < thresholds[i])]
            u_m = basis(m.T)
            sv = np.linalg.svd(m.T, compute_uv=False)
            # Float32 differences in M are amplified by its conditioning in the projector.
            entry["m_condition"] = float(sv[0] / sv[u_m.shape[1] - 1])
            proj = lambda x: reject(u_m @ (u_m.T @ x))  # noqa: E731
            for p in triggers:
                safe[p] = proj(e[p].astype(np.float64)).astype(np.float32)
            cos = []
            for p in range(n + 2):
                x, y = e[p].astype(np.float64), proj(e[p].astype(np.float64))
                den = np.linalg.norm(x) * np.linalg.norm(y)
                cos.append(0.0 if den < 1e-8 else float(x @ y / den))
            beta = 1 - float(np.mean(cos))
            t_prime = round(UP_T / (1 + math.exp(-2 * K * (10 * beta - T0))))
            entry.update(triggers=triggers, distances=d.tolist(),
                         thresholds=[None if math.isnan(t) else t for t in thresholds], beta=beta, t_prime=t_prime)
        tensors[f"{name}/original_{index}"] = e.astype(np.float32)
        tensors[f"{name}/sanitized_{index}"] = safe.astype(np.float32)
        results.append(entry)
    return results

if __name__ == "__main__":
    main()
