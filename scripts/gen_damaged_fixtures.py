#!/usr/bin/env python3
"""Damaged images every browser shows and Pillow decodes, with Pillow's pixels as goldens.

Made from the clean fixtures (offline, not in CI; needs Pillow):
- JPEG warnings libjpeg decodes past: extraneous bytes before a marker, an APP segment whose length
  is too short (the rest reads as extraneous bytes);
- PNG image data with wrong CRCs (Pillow does not check them);
- truncated files: baseline and progressive JPEG cut mid-scan, plain and Adam7 PNG cut mid-IDAT, an
  interlaced GIF cut mid-frame.
Goldens are `ImageOps.exif_transpose(im).convert("RGB")`, with `ImageFile.LOAD_TRUNCATED_IMAGES`
for the truncated ones (Pillow's default refuses them; the engine scans what decodes and says so).
Writes fixtures/damaged/, fixtures/goldens/damaged/*.rgb and fixtures/goldens/damaged.json.
"""
import os
import struct
import zlib

from PIL import Image, ImageFile, ImageOps

from golden_files import write_index

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
OUT = os.path.join(FIX, "damaged")
GOLD = os.path.join(FIX, "goldens", "damaged")


def read(name):
    with open(os.path.join(FIX, "images", name), "rb") as f:
        return f.read()


def jpeg_segments(data):
    """(offset, marker, length) of each segment up to and including start-of-scan."""
    i, out = 2, []
    while i < len(data):
        marker = data[i + 1]
        if marker == 0xDA:
            out.append((i, marker, len(data) - i))
            break
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        out.append((i, marker, length + 2))
        i += 2 + length
    return out


def png_chunks(data):
    i, out = 8, []
    while i < len(data):
        length = struct.unpack(">I", data[i:i + 4])[0]
        out.append((data[i + 4:i + 8], data[i + 8:i + 8 + length]))
        i += 12 + length
    return out


def png_build(chunks):
    out = b"\x89PNG\r\n\x1a\n"
    for kind, body, crc in chunks:
        out += struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)
    return out


def damaged():
    files = {}
    jpeg = read("baseline420.jpg")
    segments = jpeg_segments(jpeg)
    offset = segments[1][0]
    files["extraneous_bytes.jpg"] = (jpeg[:offset] + b"\x00\x12\x34" + jpeg[offset:], ["damaged"])
    start, _, length = segments[0]
    short = jpeg[start:start + 2] + struct.pack(">H", length - 6) + jpeg[start + 4:start + length]
    files["short_app_segment.jpg"] = (jpeg[:start] + short + jpeg[start + length:], ["damaged"])
    files["truncated_scan.jpg"] = (jpeg[:int(len(jpeg) * 0.7)], ["truncated"])
    progressive = read("progressive.jpg")
    files["truncated_progressive.jpg"] = (progressive[:int(len(progressive) * 0.6)], ["truncated"])
    png = read("rgb8.png")
    chunks = [(k, b, zlib.crc32(k + b) ^ (0xDEADBEEF if k == b"IDAT" else 0)) for k, b in png_chunks(png)]
    files["idat_crc.png"] = (png_build(chunks), [])
    files["truncated_rows.png"] = (png[:int(len(png) * 0.6)], ["truncated"])
    adam7 = read("rgb8_adam7.png")
    files["truncated_adam7.png"] = (adam7[:int(len(adam7) * 0.6)], ["truncated"])
    gif = read("still.gif")
    files["truncated_frame.gif"] = (gif[:int(len(gif) * 0.6)], ["truncated"])
    return files


# Where the engine's decoder and Pillow's are different builds of libjpeg-turbo (Debian 12's 2.1.5,
# the wheel's own 3.x), a progressive scan cut short rounds its last partial refinement differently
# in a few pixels, by one level.
TOLERANCE = {"truncated_progressive.jpg": 1}


def main():
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(GOLD, exist_ok=True)
    meta = {}
    for name, (data, warnings) in sorted(damaged().items()):
        path = os.path.join(OUT, name)
        with open(path, "wb") as f:
            f.write(data)
        ImageFile.LOAD_TRUNCATED_IMAGES = "truncated" in warnings
        image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
        with open(os.path.join(GOLD, name + ".rgb"), "wb") as f:
            f.write(image.tobytes())
        meta[name] = {"width": image.width, "height": image.height, "warnings": warnings,
                      "max_abs_diff": TOLERANCE.get(name, 0)}
    write_index(os.path.join(FIX, "goldens", "damaged.json"), meta)


if __name__ == "__main__":
    main()
