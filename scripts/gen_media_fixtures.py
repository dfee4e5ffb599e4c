#!/usr/bin/env python3
"""Generates the Media fixtures and their goldens (offline; CI only reads the committed output).

Sources of pixels, all freely licensed:
  * photos from Debian's python3-skimage package (skimage/data): astronaut.png (NASA, public
    domain), chelsea.png and coffee.png (CC0), camera.png (CC0 / public domain);
  * FFmpeg lavfi test sources (testsrc2, smptebars, mandelbrot, color, sine), generated.

Goldens:
  * fixtures/goldens/images/NAME.rgb: Pillow's ImageOps.exif_transpose(Image.open(p)).convert("RGB")
    as packed RGB8, the reference the Swift decoders must match;
  * fixtures/goldens/video/NAME.rgb: the first displayed frame as the ffmpeg CLI renders it
    (autorotate, rgb24), compared with a tolerance;
  * fixtures/goldens/media.json: image sizes and tolerances, ffprobe frame timestamps and stream
    metadata per clip.

Needs: ffmpeg 5.1 (Debian 12), jpegtran (libjpeg-turbo-progs), python3-skimage, Pillow, numpy.
Run from the repository root: python3 scripts/gen_media_fixtures.py
"""

import io
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np
from PIL import Image, ImageOps, features

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "fixtures")
IMAGES = os.path.join(FIX, "images")
VIDEO = os.path.join(FIX, "video")
CORRUPT = os.path.join(FIX, "corrupt")
GOLDEN_IMAGES = os.path.join(FIX, "goldens", "images")
GOLDEN_VIDEO = os.path.join(FIX, "goldens", "video")
SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"


def photo(name, size):
    return Image.open(os.path.join(SKIMAGE, name)).convert("RGB").resize(size, Image.LANCZOS)


# ---------------------------------------------------------------------------------------------
# A small PNG writer, so every colour type, bit depth, tRNS and Adam7 can be produced exactly.

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def pack_rows(samples, depth):
    """samples: array [h, w*channels] of ints; returns filtered scanlines (filter 0)."""
    out = bytearray()
    for row in samples:
        out.append(0)
        if depth == 16:
            out += row.astype(">u2").tobytes()
        elif depth == 8:
            out += row.astype(np.uint8).tobytes()
        else:
            bits = np.unpackbits(row.astype(np.uint8)[:, None], axis=1)[:, 8 - depth:].reshape(-1)
            out += np.packbits(bits).tobytes()
    return bytes(out)


def write_png(path, samples, color_type, depth, palette=None, trns=None, interlace=False, extra=b""):
    """samples: [h, w, channels] array of sample values at `depth` bits."""
    h, w, c = samples.shape
    flat = samples.reshape(h, w * c)
    if interlace:
        data = b""
        for x0, y0, dx, dy in ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.size:
                data += pack_rows(sub.reshape(sub.shape[0], -1), depth)
    else:
        data = pack_rows(flat, depth)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, int(interlace)))
    png += extra
    if palette is not None:
        png += chunk(b"PLTE", bytes(np.asarray(palette, dtype=np.uint8).reshape(-1)))
    if trns is not None:
        png += chunk(b"tRNS", trns)
    png += chunk(b"IDAT", zlib.compress(data, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def exif_bytes(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def make_pngs():
    rgb = np.asarray(photo("astronaut.png", (61, 45)), dtype=np.uint16)
    grey = np.asarray(photo("camera.png", (53, 40)).convert("L"), dtype=np.uint16)
    alpha = np.tile(np.linspace(0, 255, rgb.shape[1]).astype(np.uint16), (rgb.shape[0], 1))
    rgb16 = rgb * 257 + np.arange(rgb.size, dtype=np.uint16).reshape(rgb.shape) % 251
    grey16 = grey * 3 + 7  # spans 7..772, across Pillow's clip at 255
    for depth in (1, 2, 4, 8):
        write_png(f"{IMAGES}/grey{depth}.png", (grey >> (8 - depth))[..., None], 0, depth)
    write_png(f"{IMAGES}/grey16.png", grey16[..., None], 0, 16)
    write_png(f"{IMAGES}/grey8_trns.png", grey[..., None], 0, 8, trns=struct.pack(">H", 100))
    write_png(f"{IMAGES}/greyalpha8.png", np.dstack([grey, grey[:, ::-1]]), 4, 8)
    write_png(f"{IMAGES}/greyalpha16.png", np.dstack([grey * 257 + 5, grey[:, ::-1] * 257]), 4, 16)
    write_png(f"{IMAGES}/rgb8.png", rgb, 2, 8)
    write_png(f"{IMAGES}/rgb16.png", rgb16, 2, 16)
    write_png(f"{IMAGES}/rgb8_trns.png", rgb, 2, 8, trns=struct.pack(">HHH", 10, 20, 30))
    write_png(f"{IMAGES}/rgba8.png", np.dstack([rgb, alpha]), 6, 8)
    write_png(f"{IMAGES}/rgba16.png", np.dstack([rgb16, alpha * 257]), 6, 16)
    write_png(f"{IMAGES}/rgb8_adam7.png", rgb, 2, 8, interlace=True)
    write_png(f"{IMAGES}/rgba16_adam7.png", np.dstack([rgb16, alpha * 257]), 6, 16, interlace=True)
    write_png(f"{IMAGES}/grey2_adam7.png", (grey >> 6)[..., None], 0, 2, interlace=True)
    gamma = chunk(b"gAMA", struct.pack(">I", 100000))
    write_png(f"{IMAGES}/rgb8_gamma.png", rgb, 2, 8, extra=gamma)
    # Palettes of 2, 4, 16 and 256 entries, with tRNS on two of them.
    quant = Image.fromarray(rgb.astype(np.uint8)).quantize(256)
    pal = np.asarray(quant.getpalette()[: 256 * 3]).reshape(-1, 3)
    idx = np.asarray(quant, dtype=np.uint16)
    write_png(f"{IMAGES}/palette8_trns.png", idx[..., None], 3, 8, palette=pal, trns=bytes(range(0, 256, 2)))
    for depth in (1, 2, 4):
        n = 1 << depth
        q = Image.fromarray(rgb.astype(np.uint8)).quantize(n)
        p = np.asarray(q.getpalette()[: n * 3]).reshape(-1, 3)
        trns = bytes([0, 128]) if depth == 2 else None
        write_png(f"{IMAGES}/palette{depth}.png", np.asarray(q, dtype=np.uint16)[..., None], 3, depth, palette=p, trns=trns)
    # A PNG written by Pillow (adaptive filters), and eXIf orientation.
    Image.fromarray(rgb.astype(np.uint8)).save(f"{IMAGES}/rgb8_pillow.png", optimize=True)
    Image.fromarray(rgb.astype(np.uint8)).save(f"{IMAGES}/exif6.png", exif=exif_bytes(6))


def make_jpegs():
    img = photo("chelsea.png", (67, 45))
    img.save(f"{IMAGES}/baseline420.jpg", quality=90)
    img.save(f"{IMAGES}/baseline444.jpg", quality=90, subsampling=0)
    img.save(f"{IMAGES}/baseline422.jpg", quality=90, subsampling=1)
    img.save(f"{IMAGES}/progressive.jpg", quality=85, progressive=True)
    img.convert("L").save(f"{IMAGES}/grey.jpg", quality=90)
    img.convert("CMYK").save(f"{IMAGES}/cmyk.jpg", quality=90)
    subprocess.run(["jpegtran", "-arithmetic", "-outfile", f"{IMAGES}/arithmetic.jpg", f"{IMAGES}/baseline420.jpg"], check=True)
    subprocess.run(["jpegtran", "-restart", "1", "-outfile", f"{IMAGES}/restart.jpg", f"{IMAGES}/baseline420.jpg"], check=True)
    asym = photo("coffee.png", (40, 24))
    for o in range(1, 9):
        asym.save(f"{IMAGES}/exif{o}.jpg", quality=90, exif=exif_bytes(o))


def make_other_stills():
    img = photo("coffee.png", (57, 38))
    rgba = img.copy()
    rgba.putalpha(Image.linear_gradient("L").resize(img.size))
    img.save(f"{IMAGES}/lossless.webp", lossless=True)
    img.save(f"{IMAGES}/lossy.webp", quality=80)
    rgba.save(f"{IMAGES}/lossy_alpha.webp", quality=80)
    img.save(f"{IMAGES}/exif8.webp", lossless=True, exif=exif_bytes(8))
    img.quantize(64).save(f"{IMAGES}/still.gif")
    img.save(f"{IMAGES}/rgb24.bmp")
    img.save(f"{IMAGES}/raw.tiff")
    img.save(f"{IMAGES}/lzw.tiff", compression="tiff_lzw")
    if features.check("avif"):
        img.save(f"{IMAGES}/still.avif", quality=80)
    frames = [photo(n, (48, 32)) for n in ("coffee.png", "chelsea.png", "astronaut.png")]
    frames[0].save(f"{IMAGES}/animated.gif", save_all=True, append_images=frames[1:], duration=[200, 300, 500], loop=0)
    frames[0].save(f"{IMAGES}/animated.png", save_all=True, append_images=frames[1:], duration=[200, 300, 500], loop=0)
    frames[0].save(f"{IMAGES}/animated.webp", save_all=True, append_images=frames[1:], duration=[200, 300, 500], loop=0, lossless=True)


# ---------------------------------------------------------------------------------------------
# Video clips from lavfi sources.

def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def make_videos():
    src = ["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25"]
    x264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast"]
    ffmpeg(*src, "-t", "2", *x264, "-bf", "2", "-g", "12", f"{VIDEO}/h264_bframes.mp4")
    ffmpeg(*src, "-t", "2", "-c:v", "libvpx-vp9", "-g", "12", "-deadline", "realtime", "-b:v", "200k", f"{VIDEO}/vp9.webm")
    ffmpeg(*src, "-t", "1", "-c:v", "libx265", "-x265-params", "log-level=error", "-pix_fmt", "yuv420p", f"{VIDEO}/hevc.mkv")
    ffmpeg(*src, "-t", "1", "-c:v", "libaom-av1", "-cpu-used", "8", "-b:v", "100k", f"{VIDEO}/av1.mkv")
    ffmpeg(*src, "-t", "1", "-c:v", "mpeg4", "-q:v", "5", f"{VIDEO}/mpeg4.avi")
    ffmpeg(*src, "-t", "1", "-c:v", "mjpeg", "-q:v", "5", f"{VIDEO}/mjpeg.avi")
    ffmpeg(*src, "-t", "1", *x264, f"{VIDEO}/h264.flv")
    ffmpeg(*src, "-t", "1", *x264, f"{VIDEO}/h264.ts")
    ffmpeg(*src, "-t", "1", "-c:v", "libtheora", "-q:v", "5", f"{VIDEO}/theora.ogv")
    ffmpeg(*src, "-t", "1", *x264, "-bsf:v", "h264_mp4toannexb", "-f", "h264", f"{VIDEO}/annexb.h264")
    ffmpeg(*src, "-t", "1", *x264, "-output_ts_offset", "5", f"{VIDEO}/offset5.mkv")
    # FFmpeg 5.1 writes the display matrix from the rotate tag only when stream-copying.
    ffmpeg(*src, "-t", "1", *x264, f"{VIDEO}/upright.mp4")
    for degrees in (90, 180, 270):
        ffmpeg("-i", f"{VIDEO}/upright.mp4", "-c", "copy", "-metadata:s:v:0", f"rotate={degrees}",
               f"{VIDEO}/rotate{degrees}.mp4")
    os.remove(f"{VIDEO}/upright.mp4")
    ffmpeg(*src, "-t", "1", *x264, "-vf", "setsar=2/1", f"{VIDEO}/sar2.mp4")
    # Variable frame rate: frames 10..19 are 0.2 s apart instead of 0.04 s.
    ffmpeg(*src, "-t", "1.2", *x264, "-vf", "setpts='(N*0.04+0.16*clip(N-10,0,10))/TB'", "-vsync", "vfr", f"{VIDEO}/vfr.mkv")
    ffmpeg(*src, "-frames:v", "1", *x264, f"{VIDEO}/single_frame.mp4")
    # Solid colour (200, 50, 100): full vs limited range, BT.709-tagged and encoded with BT.709.
    color = ["-f", "lavfi", "-i", "color=c=0xC83264:size=64x48:rate=10", "-t", "0.5"]
    ffmpeg(*color, "-c:v", "libx264", "-pix_fmt", "yuvj420p", "-color_range", "pc", f"{VIDEO}/color_full.mp4")
    ffmpeg(*color, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-color_range", "tv", f"{VIDEO}/color_limited.mp4")
    ffmpeg(*color, "-vf", "scale=out_color_matrix=bt709:out_range=tv", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv",
           f"{VIDEO}/color_bt709.mp4")
    # Three shots of one second each, 10 fps, GOP 10: cuts at 1 s and 2 s.
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=1",
           "-f", "lavfi", "-i", "smptebars=size=64x48:rate=10:duration=1",
           "-f", "lavfi", "-i", "mandelbrot=size=64x48:rate=10",
           "-filter_complex", "[2:v]trim=duration=1,setpts=PTS-STARTPTS[m];[0:v][1:v][m]concat=n=3:v=1[v]",
           "-map", "[v]", *x264, "-g", "10", "-bf", "0", f"{VIDEO}/shots.mp4")
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", f"{VIDEO}/audio_only.m4a")


# ---------------------------------------------------------------------------------------------
# Hostile inputs.

def png_header_only(path, width, height):
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress(b"\x00" * 4096))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + ihdr + idat + chunk(b"IEND", b""))


def jpeg_with_size(source, path, width, height):
    data = bytearray(open(source, "rb").read())
    sof = data.find(b"\xff\xc0")
    data[sof + 5: sof + 9] = struct.pack(">HH", height, width)
    open(path, "wb").write(bytes(data))


def make_corrupt():
    def cut(name, fraction, out):
        data = open(name, "rb").read()
        open(f"{CORRUPT}/{out}", "wb").write(data[: int(len(data) * fraction)])

    cut(f"{IMAGES}/rgb8.png", 0.5, "truncated.png")
    cut(f"{IMAGES}/baseline420.jpg", 0.6, "truncated.jpg")
    cut(f"{VIDEO}/h264_bframes.mp4", 0.5, "truncated.mp4")
    cut(f"{IMAGES}/lossy.webp", 0.5, "truncated.webp")
    open(f"{CORRUPT}/empty.png", "wb").close()
    open(f"{CORRUPT}/empty.mp4", "wb").close()
    open(f"{CORRUPT}/text.mp4", "w").write("this is not a video\n" * 10)
    open(f"{CORRUPT}/text.jpg", "w").write("this is not an image\n")
    png_header_only(f"{CORRUPT}/bomb_65535.png", 65535, 65535)
    jpeg_with_size(f"{IMAGES}/baseline420.jpg", f"{CORRUPT}/bomb_65535.jpg", 65535, 65535)
    jpeg_with_size(f"{IMAGES}/baseline420.jpg", f"{CORRUPT}/bomb_60000.jpg", 60000, 60000)
    # Video whose packets are garbage but whose container is intact: every packet fails to decode.
    data = bytearray(open(f"{VIDEO}/h264_bframes.mp4", "rb").read())
    mdat = data.find(b"mdat") + 4
    rng = np.random.default_rng(7)
    garbage = rng.integers(0, 256, len(data) - mdat - 16, dtype=np.uint8).tobytes()
    moov = data.find(b"moov")
    if moov > mdat:
        data[mdat:moov - 4] = garbage[: moov - 4 - mdat]
    open(f"{CORRUPT}/garbage_packets.mp4", "wb").write(bytes(data))
    # A PNG with the wrong extension must still decode: content decides, not the name.
    shutil.copy(f"{IMAGES}/rgb8.png", f"{CORRUPT}/png_named.jpg")


# ---------------------------------------------------------------------------------------------
# Goldens.

# Where the Swift path cannot match Pillow bit for bit: (max abs difference per channel, mean
# abs difference, reason). Everything else must match exactly.
TOLERANCES = {
    "still.avif": (32, 3.0, "FFmpeg 5.1 decodes AVIF with dav1d and converts YUV 4:2:0 with swscale "
                            "(bicubic chroma); Pillow uses libavif's own conversion. Mean difference about 2."),
}


def golden_images():
    meta = {}
    for name in sorted(os.listdir(IMAGES)):
        path = os.path.join(IMAGES, name)
        with Image.open(path) as im:
            rgb = ImageOps.exif_transpose(im).convert("RGB")
            arr = np.asarray(rgb, dtype=np.uint8)
        open(os.path.join(GOLDEN_IMAGES, name + ".rgb"), "wb").write(arr.tobytes())
        tol, mean, why = TOLERANCES.get(name, (0, 0.0, ""))
        meta[name] = {"width": arr.shape[1], "height": arr.shape[0], "max_abs_diff": tol, "mean_abs_diff": mean,
                      "note": why}
    return meta


def ffprobe(path):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-show_frames", "-select_streams", "v:0",
         "-of", "json", path], capture_output=True, check=True, text=True).stdout
    return json.loads(out)


def golden_videos():
    meta = {}
    for name in sorted(os.listdir(VIDEO)):
        path = os.path.join(VIDEO, name)
        probe = ffprobe(path)
        if not probe.get("streams"):
            meta[name] = {"has_video": False}
            continue
        stream = probe["streams"][0]
        # Raw streams carry no timestamps: count frame durations from 0, as the engine does.
        frames, clock = [], 0.0
        for f in probe["frames"]:
            t = f.get("best_effort_timestamp_time", f.get("pts_time"))
            t = float(t) if t is not None else clock
            clock = t + float(f.get("pkt_duration_time", f.get("duration_time", 0)))
            frames.append({"t": round(t, 3), "key": f["key_frame"]})
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-frames:v", "1", "-pix_fmt", "rgb24",
                              "-sws_flags", "bicubic+accurate_rnd+full_chroma_int", "-f", "rawvideo", "-"],
                             capture_output=True, check=True).stdout
        open(os.path.join(GOLDEN_VIDEO, name + ".rgb"), "wb").write(raw)
        meta[name] = {
            "has_video": True,
            "codec": stream["codec_name"],
            "container": probe["format"]["format_name"],
            "width": stream["width"],
            "height": stream["height"],
            "first_frame_bytes": len(raw),
            "frames": frames,
        }
    return meta


def main():
    for d in (IMAGES, VIDEO, CORRUPT, GOLDEN_IMAGES, GOLDEN_VIDEO):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    make_pngs()
    make_jpegs()
    make_other_stills()
    make_videos()
    make_corrupt()
    goldens = {"images": golden_images(), "video": golden_videos(),
               "generator": {"pillow": Image.__version__, "ffmpeg": subprocess.run(
                   ["ffmpeg", "-version"], capture_output=True, text=True).stdout.split("\n")[0]}}
    with open(os.path.join(FIX, "goldens", "media.json"), "w") as f:
        json.dump(goldens, f, indent=1, sort_keys=True)
        f.write("\n")
    write_manifest(goldens)


def write_manifest(goldens):
    """fixtures/manifest.json, for every fixture (scripts/gen_manifest.py reads goldens/media.json)."""
    subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen_manifest.py")], check=True)


if __name__ == "__main__":
    main()
