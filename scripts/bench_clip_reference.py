#!/usr/bin/env python3
"""Reference timings for `guardrail-bench vision`: the same checkpoint in PyTorch (transformers
CLIPModel) and, when onnxruntime is installed, in onnxruntime on ONNX exports of both towers.

Usage: bench_clip_reference.py MODEL_FOLDER REPEATS
Prints one JSON object of seconds per item (best of REPEATS), keys like torch_image_b8_t2, onnxruntime_image_b1_t1,
torch_text_b16_t2, and, for the engine's full-size agreement check, check_image_embeds and
check_text_embeds: get_image_features of the benchmark's 2-image pixel pattern and
get_text_features of its prompts 0 and 1, flattened. Progress goes to stderr. Not run in CI.
"""

import json
import os
import sys
import tempfile
import time

import numpy as np
import torch
from transformers import CLIPModel


def best_time(fn, repeats):
    """The fastest of `repeats` timed calls after a warm-up, as the engine's side reports."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def features(output):
    """transformers 5 returns a model output whose pooler_output is the projected embedding; 4.x a tensor."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def main():
    folder, repeats = sys.argv[1], int(sys.argv[2])
    model = CLIPModel.from_pretrained(folder, torch_dtype=torch.float32).eval()
    out = {}
    ids = torch.tensor([[49406] + [(j * 37 + i * 101) % 49000 + 300 for j in range(20)] + [49407] * 56
                        for i in range(16)])
    onnx_paths = None
    try:
        import onnxruntime as ort

        class Tower(torch.nn.Module):
            """One tower's projected features, as get_image_features / get_text_features give them."""

            def __init__(self, m, text):
                super().__init__()
                self.m, self.text = m, text

            def forward(self, x):
                return features(self.m.get_text_features(input_ids=x) if self.text
                                else self.m.get_image_features(pixel_values=x))

        folder_out = tempfile.mkdtemp()
        onnx_paths = {"image": os.path.join(folder_out, "vision.onnx"), "text": os.path.join(folder_out, "text.onnx")}
        torch.onnx.export(Tower(model, False), (torch.zeros(1, 3, 224, 224),), onnx_paths["image"],
                          input_names=["x"], output_names=["embeds"], dynamic_axes={"x": {0: "batch"}}, dynamo=False)
        torch.onnx.export(Tower(model, True), (ids[:1],), onnx_paths["text"], input_names=["x"],
                          output_names=["embeds"], dynamic_axes={"x": {0: "batch"}}, dynamo=False)
    except Exception as error:  # onnxruntime absent or export failed: report PyTorch only
        print(f"onnxruntime reference unavailable: {error}", file=sys.stderr)
        onnx_paths = None
    with torch.no_grad():
        pattern = ((torch.arange(2 * 3 * 224 * 224) % 255).float() / 255 - 0.5).reshape(2, 3, 224, 224)
        out["check_image_embeds"] = features(model.get_image_features(pixel_values=pattern)).flatten().tolist()
        out["check_text_embeds"] = features(model.get_text_features(input_ids=ids[:2])).flatten().tolist()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        with torch.no_grad():
            for batch in (1, 8):
                pixels = torch.rand(batch, 3, 224, 224) - 0.5
                out[f"torch_image_b{batch}_t{threads}"] = best_time(
                    lambda: model.get_image_features(pixel_values=pixels), repeats) / batch
                print(f"torch threads {threads} batch {batch} done", file=sys.stderr)
            text = best_time(lambda: model.get_text_features(input_ids=ids), repeats) / 16
            out[f"torch_text_b16_t{threads}"] = text
            out[f"torch_text_embeds_b16_t{threads}"] = text
        if onnx_paths:
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(onnx_paths["image"], options, providers=["CPUExecutionProvider"])
            for batch in (1, 8):
                pixels = (np.random.rand(batch, 3, 224, 224) - 0.5).astype(np.float32)
                out[f"onnxruntime_image_b{batch}_t{threads}"] = best_time(
                    lambda: session.run(None, {"x": pixels}), repeats) / batch
            session = ort.InferenceSession(onnx_paths["text"], options, providers=["CPUExecutionProvider"])
            text = best_time(lambda: session.run(None, {"x": ids.numpy()}), repeats) / 16
            out[f"onnxruntime_text_b16_t{threads}"] = text
            out[f"onnxruntime_text_embeds_b16_t{threads}"] = text
    print(json.dumps(out))


if __name__ == "__main__":
    main()
