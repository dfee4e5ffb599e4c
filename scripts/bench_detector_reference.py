#!/usr/bin/env python3
"""onnxruntime reference for `guardrail-bench detector`: the same model on the same input.

Usage: bench_detector_reference.py MODEL INPUT_BIN SIZE REPEATS OUTPUT_BIN [PHOTO JPEG_OUT]
Prints {"t1": seconds, "t2": seconds} (best of REPEATS on 1 and 2 intra-op threads) and writes the
output as little-endian float32 to OUTPUT_BIN. With PHOTO, also writes it resized to 1024×768 as a
JPEG (quality 90) to JPEG_OUT and times the `nudenet` package end to end on it (its NudeDetector:
OpenCV decode and resize, onnxruntime, its Python decoding): "e1", "e2", and its detections as
"detections". Not run in CI.
"""
import json
import sys
import time

import numpy as np
import onnxruntime


def main():
    model, input_bin, size, repeats, output_bin = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    x = np.fromfile(input_bin, dtype="<f4").reshape(1, 3, size, size)
    out = {}
    for threads in (1, 2):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(model, options)
        name = session.get_inputs()[0].name
        y = session.run(None, {name: x})[0]
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            session.run(None, {name: x})
            best = min(best, time.perf_counter() - start)
        out[f"t{threads}"] = best
    y.astype("<f4").tofile(output_bin)
    if len(sys.argv) > 7:
        from nudenet import NudeDetector
        from PIL import Image
        photo, jpeg = sys.argv[6], sys.argv[7]
        Image.open(photo).convert("RGB").resize((1024, 768), Image.BICUBIC).save(jpeg, quality=90)
        for threads in (1, 2):
            detector = NudeDetector(model_path=model)
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            detector.onnx_session = onnxruntime.InferenceSession(model, options)
            out["detections"] = detector.detect(jpeg)
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                detector.detect(jpeg)
                best = min(best, time.perf_counter() - start)
            out[f"e{threads}"] = best
    print(json.dumps(out))


if __name__ == "__main__":
    main()
