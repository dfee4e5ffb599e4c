#!/usr/bin/env python3
"""PyTorch timing of SAFREE's text side for `guardrail-bench sanitize`: the prompt encoding, the
masked re-encodings (one batch), the Float64 projections, on the same text encoder folder.

Usage: bench_safree_reference.py MODEL_FOLDER CONCEPTS_TXT PROMPT REPEATS
Prints {"t1": seconds, "t2": seconds} (median per prompt at 1 and 2 threads). Not run in CI.
"""

import json
import statistics
import sys
import time

import numpy as np
import torch
from transformers import CLIPTextModel, CLIPTokenizer


def basis(columns):
    u, s, _ = np.linalg.svd(columns, full_matrices=False)
    return u[:, s > max(columns.shape) * np.finfo(np.float64).eps * s[0]]


def main():
    folder, concepts_path, prompt, repeats = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    tok = CLIPTokenizer.from_pretrained(folder)
    model = CLIPTextModel.from_pretrained(folder, torch_dtype=torch.float32).eval()
    concepts = [c.strip() for c in open(concepts_path) if c.strip() and not c.startswith("#")]
    pad = lambda t: tok(t, padding="max_length", truncation=True, max_length=77)["input_ids"]  # noqa: E731
    with torch.no_grad():
        c = model(input_ids=torch.tensor([pad(x) for x in concepts])).pooler_output.numpy().astype(np.float64)
    u_c = basis(c.T)

    @torch.no_grad()
    def sanitize():
        ids = pad(prompt)
        e = model(input_ids=torch.tensor([ids])).last_hidden_state[0].numpy().astype(np.float64)
        n = ids.index(tok.eos_token_id) - 1
        content = ids[1:n + 1]
        seqs = [[tok.bos_token_id] + content[:i] + [0] + content[i + 1:] + [tok.eos_token_id] for i in range(n)]
        m = model(input_ids=torch.tensor(seqs)).pooler_output.numpy().astype(np.float64)
        d = np.linalg.norm(m - (m @ u_c) @ u_c.T, axis=1)
        loo = (d.sum() - d) / (n - 1)
        triggers = np.nonzero(~(d < 1.01 * loo))[0] + 1
        u_m = basis(m.T)
        proj = lambda x: (lambda y: y - u_c @ (u_c.T @ y))(u_m @ (u_m.T @ x))  # noqa: E731
        safe = e.copy()
        for p in triggers:
            safe[p] = proj(e[p])
        cos = [e[p] @ proj(e[p]) / (np.linalg.norm(e[p]) * np.linalg.norm(proj(e[p]))) for p in range(n + 2)]
        return safe, 1 - np.mean(cos)

    out = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        sanitize()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            sanitize()
            times.append(time.perf_counter() - start)
        out[f"t{threads}"] = statistics.median(times)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
