#!/usr/bin/env python3
"""Pictures a viewer shows that are not frames of the main stream (offline, not in CI; needs Pillow
and the ffmpeg CLI). Writes fixtures/viewer/:
- apng_default.png: an APNG whose IDAT default image (red) is not part of its 3-frame animation;
- cover.m4a (AAC + PNG cover), cover.mp3 (MP3 + JPEG cover): audio whose cover art a player shows;
- video_cover.mp4: an H.264 clip with a PNG cover;
- two_streams.mkv: two H.264 video streams (64×48 test pattern, 48×32 colour bars), 1 s each;
- stereo.mpo: a Multi-Picture Object of three JPEGs (red, blue, green), with Pillow's frames as
  goldens in goldens/viewer/stereo.mpo.rgb;
- sizes_png.ico, sizes_bmp32.ico, sizes_bmp8.ico: ICOs with several sizes stored as PNG, 32-bit and
  8-bit palette BMP, with Pillow's `ico.getimage(size).convert("RGB")` of every size as goldens in
  goldens/viewer/NAME.rgb (the largest first, then the others in directory order) and the sizes
  in goldens/viewer/ico.json;
- pages.tiff: a three-page TIFF (red, blue, green, 16×12), whose later pages the engine reports as
  not scanned.
The covers are fixtures/images/rgb8.png and baseline420.jpg, so their pixels are known.
"""
import os
import struct
import subprocess

from PIL import Image

from golden_files import write_index

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
OUT = os.path.join(FIX, "viewer")


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def main():
    os.makedirs(OUT, exist_ok=True)
    default = Image.new("RGB", (32, 24), (255, 0, 0))
    frames = [Image.new("RGB", (32, 24), (0, 127 * i, 255)) for i in range(3)]
    default.save(os.path.join(OUT, "apng_default.png"), save_all=True, append_images=frames, default_image=True,
                 duration=200)
    png = os.path.join(FIX, "images", "rgb8.png")
    jpeg = os.path.join(FIX, "images", "baseline420.jpg")
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=0.5"]
    ffmpeg(*tone, "-i", png, "-map", "0", "-map", "1", "-c:a", "aac", "-c:v", "copy",
           "-disposition:v", "attached_pic", os.path.join(OUT, "cover.m4a"))
    ffmpeg(*tone, "-i", jpeg, "-map", "0", "-map", "1", "-c:a", "libmp3lame", "-c:v", "copy",
           "-disposition:v", "attached_pic", "-id3v2_version", "3", os.path.join(OUT, "cover.mp3"))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=1", "-f", "lavfi", "-i",
           "smptebars=size=48x32:rate=10:duration=1", "-map", "0", "-map", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           os.path.join(OUT, "two_streams.mkv"))
    shades = [Image.new("RGB", (32, 24), colour) for colour in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    for i, image in enumerate(shades):
        image.paste((255, 255, 255), (4 * i, 2, 4 * i + 6, 8))
    mpo = os.path.join(OUT, "stereo.mpo")
    shades[0].save(mpo, save_all=True, append_images=shades[1:], quality=95)
    gold = os.path.join(FIX, "goldens", "viewer")
    os.makedirs(gold, exist_ok=True)
    opened = Image.open(mpo)
    with open(os.path.join(gold, "stereo.mpo.rgb"), "wb") as f:
        for n in range(opened.n_frames):
            opened.seek(n)
            f.write(opened.convert("RGB").tobytes())
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=1", "-i", png, "-map", "0", "-map", "1",
           "-c:v:0", "libx264", "-pix_fmt", "yuv420p", "-c:v:1", "copy", "-disposition:v:1", "attached_pic",
           os.path.join(OUT, "video_cover.mp4"))
    pages_tiff()
    ico_files()


def ico_files():
    photo = Image.open(os.path.join(FIX, "images", "rgb8.png")).convert("RGBA").resize((64, 48))
    photo.save(os.path.join(OUT, "sizes_png.ico"), sizes=[(16, 16), (32, 32), (64, 64)])
    photo.save(os.path.join(OUT, "sizes_bmp32.ico"), sizes=[(16, 16), (32, 32), (48, 48)], bitmap_format="bmp")
    photo.convert("RGB").quantize(16).save(os.path.join(OUT, "sizes_bmp8.ico"), sizes=[(16, 16), (32, 32)],
                                           bitmap_format="bmp")
    gold = os.path.join(FIX, "goldens", "viewer")
    meta = {}
    for name in ("sizes_png.ico", "sizes_bmp32.ico", "sizes_bmp8.ico"):
        with open(os.path.join(OUT, name), "rb") as f:
            data = f.read()
        count = struct.unpack("<H", data[4:6])[0]
        sizes = [(data[6 + 16 * i] or 256, data[7 + 16 * i] or 256) for i in range(count)]
        largest = max(sizes, key=lambda wh: wh[0] * wh[1])
        order = [largest] + [wh for wh in sizes if wh != largest]
        ico = Image.open(os.path.join(OUT, name)).ico
        with open(os.path.join(gold, name + ".rgb"), "wb") as f:
            for size in order:
                f.write(ico.getimage(size).convert("RGB").tobytes())
        meta[name] = [list(size) for size in order]
    write_index(os.path.join(gold, "..", "ico.json"), meta)


def pages_tiff():
    pages = [Image.new("RGB", (16, 12), colour) for colour in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    pages[0].save(os.path.join(OUT, "pages.tiff"), save_all=True, append_images=pages[1:])


if __name__ == "__main__":
    main()
