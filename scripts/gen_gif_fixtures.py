#!/usr/bin/env python3
"""Animated GIFs that exercise compositing, with Pillow's frames as goldens (offline; needs Pillow).

Every disposal method (1 keep, 2 restore to background/transparent, 3 restore to previous), with
and without transparency, local palettes per frame, frames smaller than the canvas at offsets, and
an interlaced one, and that one cut inside its third frame; one with its palette in every frame
instead of a global one, one with no palette at all (grey). Goldens: `im.seek(n); im.convert("RGB")`
for every frame (`LOAD_TRUNCATED_IMAGES` for the cut one), concatenated, in
fixtures/goldens/gif/NAME.rgb; fixtures/goldens/gif.json lists frame counts.
"""
import os

from PIL import Image, ImageFile

from golden_files import write_index

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
OUT = os.path.join(FIX, "gif")
GOLD = os.path.join(FIX, "goldens", "gif")

PALETTE = [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 200, 200, 200, 255, 255, 0] + [0] * (250 * 3)


def frame(i, size=(32, 24), palette=PALETTE):
    im = Image.new("P", size, 0)
    im.putpalette(palette)
    for x in range(3 + 5 * i, 11 + 5 * i):
        for y in range(3 + i, 13 + i):
            if x < size[0] and y < size[1]:
                im.putpixel((x, y), 1 + (i % 5))
    return im


def move_global_palette(data, local):
    """The same GIF without its global palette: copied into the frames without their own when
    `local`, else every palette dropped (Pillow then reads the indices as grey levels)."""
    flags = data[10]
    assert flags & 0x80
    size = 3 << ((flags & 7) + 1)
    table = data[13:13 + size]
    out = bytearray(data[:10]) + bytes([flags & 0x70, data[11], data[12]])
    i = 13 + size
    while data[i] != 0x3B:
        if data[i] == 0x21:  # extension: label, then sub-blocks
            j = i + 2
            while data[j]:
                j += data[j] + 1
            out += data[i:j + 1]
            i = j + 1
            continue
        assert data[i] == 0x2C
        own_flags, k = data[i + 9], i + 10
        own = data[k:k + (3 << ((own_flags & 7) + 1))] if own_flags & 0x80 else None
        k += len(own or b"")
        if not local:  # no palette anywhere: the frame's own goes too
            out += data[i:i + 9] + bytes([own_flags & 0x40])
        elif own is None:
            out += data[i:i + 9] + bytes([own_flags | 0x80 | (flags & 7)]) + table
        else:
            out += data[i:i + 10] + own
        j = k + 1  # past the LZW minimum code size
        while data[j]:
            j += data[j] + 1
        out += data[k:j + 1]
        i = j + 1
    return bytes(out + b";")


def main():
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(GOLD, exist_ok=True)
    frames = [frame(i) for i in range(4)]
    for disposal in (1, 2, 3):
        for transparency in (None, 0):
            name = f"disposal{disposal}" + ("_transparent" if transparency is not None else "") + ".gif"
            extra = {} if transparency is None else {"transparency": transparency}
            frames[0].save(os.path.join(OUT, name), save_all=True, append_images=frames[1:], disposal=disposal,
                           duration=[100, 150, 1, 200], loop=0, background=4, optimize=False, **extra)
    # Local palettes: each frame its own colours.
    local = [frame(i, palette=[(37 * i + 40 * c) % 256 for c in range(768)]) for i in range(3)]
    local[0].save(os.path.join(OUT, "local_palettes.gif"), save_all=True, append_images=local[1:], duration=100,
                  disposal=[1, 2, 1], transparency=0, optimize=False)
    # Frames smaller than the canvas, at offsets (Pillow crops unchanged borders when optimising).
    moving = [Image.new("P", (40, 30), 4) for _ in range(3)]
    for i, im in enumerate(moving):
        im.putpalette(PALETTE)
        for x in range(5 * i, 5 * i + 10):
            for y in range(4, 12):
                im.putpixel((x, y), 1 + i)
    moving[0].save(os.path.join(OUT, "offsets.gif"), save_all=True, append_images=moving[1:], duration=100,
                   disposal=[1, 3, 2], optimize=True)
    frames[0].save(os.path.join(OUT, "interlaced.gif"), save_all=True, append_images=frames[1:], duration=100,
                   interlace=True, disposal=2, transparency=0)
    # Without a global palette: the colours in every frame instead, or none at all.
    with open(os.path.join(OUT, "disposal2.gif"), "rb") as f:
        plain = f.read()
    for name, local in (("no_global_palette.gif", True), ("no_palette.gif", False)):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(move_global_palette(plain, local))
    # Cut inside its third frame: Pillow (LOAD_TRUNCATED_IMAGES) shows what the whole data blocks hold.
    with open(os.path.join(OUT, "interlaced.gif"), "rb") as f:
        whole = f.read()
    with open(os.path.join(OUT, "truncated_animation.gif"), "wb") as f:
        f.write(whole[:int(len(whole) * 0.75)])
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    meta = {}
    for name in sorted(os.listdir(OUT)):
        im = Image.open(os.path.join(OUT, name))
        data = b""
        for n in range(im.n_frames):
            im.seek(n)
            data += im.convert("RGB").tobytes()
        with open(os.path.join(GOLD, name + ".rgb"), "wb") as f:
            f.write(data)
        meta[name] = {"frames": im.n_frames, "width": im.width, "height": im.height,
                      "truncated": int(name.startswith("truncated"))}
    write_index(os.path.join(FIX, "goldens", "gif.json"), meta)


if __name__ == "__main__":
    main()
