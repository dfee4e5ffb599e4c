#!/usr/bin/env python3
"""onnxruntime reference for `guardrail-bench detector`: the same model on the same input.

Usage: bench_detector_reference.py MODEL INPUT_BIN SIZE REPEATS OUTPUT_BIN
Prints {"t1": seconds, "t2": seconds} (best of REPEATS on 1 and 2 intra-op threads) and writes the
output as little-endian float32 to OUTPUT_BIN. Not run in CI.
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
    print(json.dumps(out))


if __name__ == "__main__":
    main()
