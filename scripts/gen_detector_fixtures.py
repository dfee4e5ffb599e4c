#!/usr/bin/env python3
"""A tiny YOLOv8-shaped detector for the ONNX runtime's tests (offline; needs torch, onnx, onnxruntime).

A small PyTorch model with the structure of YOLOv8n (Conv+SiLU blocks, a C2f block with Split and
Concat, SPPF's max pools, nearest upsampling and a feature-pyramid Concat, a three-scale detection
head with DFL softmax and anchors computed from the feature maps' shapes) and random weights
(seed 0), exported with torch.onnx.export (TorchScript exporter, opset 17, dynamic height and
width, as ultralytics exports) to fixtures/detector/tiny-yolo.onnx, so that the graph holds the
same operators as NudeNet's 320n.onnx, shape arithmetic included. Goldens: onnxruntime's output
for two inputs (128×128 and 96×160, values in [0, 1)), as little-endian float32 files in
fixtures/goldens/detector/ (input-SIZE.bin, output-SIZE.bin) with shapes in detector.json.
"""
import json
import os

import numpy as np
import onnx
import onnxruntime
import torch
from torch import nn

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
CLASSES = 18
REG_MAX = 16


class Conv(nn.Module):
    def __init__(self, c1, c2, k=1, s=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, k // 2, bias=True)

    def forward(self, x):
        x = self.conv(x)
        return x * torch.sigmoid(x)


class Bottleneck(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.cv1, self.cv2 = Conv(c, c, 3), Conv(c, c, 3)

    def forward(self, x):
        return x + self.cv2(self.cv1(x))


class C2f(nn.Module):
    def __init__(self, c1, c2):
        super().__init__()
        self.c = c2 // 2
        self.cv1, self.cv2, self.m = Conv(c1, 2 * self.c), Conv(3 * self.c, c2), Bottleneck(c2 // 2)

    def forward(self, x):
        y = list(self.cv1(x).split((self.c, self.c), 1))
        y.append(self.m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.cv1, self.cv2, self.m = Conv(c, c // 2), Conv(2 * c, c), nn.MaxPool2d(5, 1, 2)

    def forward(self, x):
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


class Detect(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.box = nn.ModuleList(nn.Sequential(Conv(c, 16, 3), nn.Conv2d(16, 4 * REG_MAX, 1)) for c in channels)
        self.cls = nn.ModuleList(nn.Sequential(Conv(c, 16, 3), nn.Conv2d(16, CLASSES, 1)) for c in channels)
        self.dfl = nn.Conv2d(REG_MAX, 1, 1, bias=False).requires_grad_(False)
        self.dfl.weight.data[:] = torch.arange(REG_MAX, dtype=torch.float).view(1, REG_MAX, 1, 1)
        self.strides = (8, 16, 32)

    def forward(self, xs):
        shape = xs[0].shape
        outs = [torch.cat((b(x), c(x)), 1) for x, b, c in zip(xs, self.box, self.cls)]
        anchors, strides = [], []
        for x, s in zip(outs, self.strides):
            _, _, h, w = x.shape
            sx = torch.arange(end=w, dtype=torch.float) + 0.5
            sy = torch.arange(end=h, dtype=torch.float) + 0.5
            yy, xx = torch.meshgrid(sy, sx, indexing="ij")
            anchors.append(torch.stack((xx, yy), -1).view(-1, 2))
            strides.append(torch.full((h * w, 1), s, dtype=torch.float))
        anchors, strides = torch.cat(anchors).transpose(0, 1), torch.cat(strides).transpose(0, 1)
        x = torch.cat([o.view(shape[0], 4 * REG_MAX + CLASSES, -1) for o in outs], 2)
        box, cls = x.split((4 * REG_MAX, CLASSES), 1)
        b, _, a = box.shape
        dist = self.dfl(box.view(b, 4, REG_MAX, a).transpose(2, 1).softmax(1)).view(b, 4, a)
        lt, rb = dist.chunk(2, 1)
        x1y1, x2y2 = anchors.unsqueeze(0) - lt, anchors.unsqueeze(0) + rb
        xywh = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * strides
        return torch.cat((xywh, cls.sigmoid()), 1)


class TinyYOLO(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(Conv(3, 8, 3, 2), Conv(8, 16, 3, 2), C2f(16, 16))
        self.p3 = nn.Sequential(Conv(16, 16, 3, 2), C2f(16, 16))
        self.p4 = Conv(16, 24, 3, 2)
        self.p5 = nn.Sequential(Conv(24, 32, 3, 2), SPPF(32))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.fuse = C2f(32 + 24, 24)
        self.detect = Detect((16, 24, 32))

    def forward(self, x):
        p3 = self.p3(self.stem(x))
        p4 = self.p4(p3)
        p5 = self.p5(p4)
        f4 = self.fuse(torch.cat((self.up(p5), p4), 1))
        return self.detect([p3, f4, p5])


def main():
    torch.manual_seed(0)
    model = TinyYOLO().eval()
    out_dir = os.path.join(FIX, "detector")
    gold = os.path.join(FIX, "goldens", "detector")
    os.makedirs(out_dir, exist_ok=True)
    os.makedirs(gold, exist_ok=True)
    path = os.path.join(out_dir, "tiny-yolo.onnx")
    torch.onnx.export(model, torch.zeros(1, 3, 128, 128), path, opset_version=17, input_names=["images"],
                      output_names=["output0"], dynamic_axes={"images": {2: "height", 3: "width"}}, dynamo=False)
    onnx.checker.check_model(onnx.load(path))
    session = onnxruntime.InferenceSession(path)
    rng = np.random.default_rng(1)
    meta = {"operators": sorted({n.op_type for n in onnx.load(path).graph.node}), "cases": {}}
    for h, w in ((128, 128), (96, 160)):
        x = rng.random((1, 3, h, w), dtype=np.float32)
        y = session.run(None, {"images": x})[0]
        x.astype("<f4").tofile(os.path.join(gold, f"input-{h}x{w}.bin"))
        y.astype("<f4").tofile(os.path.join(gold, f"output-{h}x{w}.bin"))
        meta["cases"][f"{h}x{w}"] = {"input": list(x.shape), "output": list(y.shape)}
    meta["generator"] = {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__}
    with open(os.path.join(FIX, "goldens", "detector.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
