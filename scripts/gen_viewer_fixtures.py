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
- pages.tiff: a three-page TIFF (red, blue, green, 16×12);
- pages_mixed.tiff: seven pages of different sizes, modes (RGB, L, P, RGBA, 1-bit) and compressions
  (raw, LZW, PackBits, Deflate), each with its own orientation tag; pages_many.tiff: 20 pages of 4×4
  (more than the engine's cap of 16 further pictures). Goldens goldens/viewer/NAME.rgb hold every
  page as it is shown, goldens/tiff.json their sizes. The golden of a page is its pixels as Pillow decodes them with every tag set to 1 (checked against
  the image written), turned by the page's tag as `exif_transpose` turns a first page, and the script
  checks it equals Pillow's `exif_transpose(im.seek(n))` bit for bit on every page but one: Pillow 13
  gives a later uncompressed grey page turned a quarter (tags 5-8) at its stored size, over transposed
  pixels (a garbled picture), and the last page of pages_mixed.tiff is such a page;
- aspect.tiff (72×144 dpi) and aspect_phys.png (an APNG with a 1:2 pHYs): resolution that FFmpeg
  reads as a sample aspect ratio and no viewer applies; goldens as Pillow shows them.
The covers are fixtures/images/rgb8.png and baseline420.jpg, so their pixels are known.
"""
import os
import struct
import subprocess

from PIL import Image, ImageOps, TiffImagePlugin

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


TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
             5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
             8: Image.Transpose.ROTATE_90}


def write_pages(path, pages):
    """Writes (image, compression, orientation) triples as one TIFF, each page with its own tags."""
    with TiffImagePlugin.AppendingTiffWriter(path, new=True) as tf:
        for image, compression, orientation in pages:
            info = TiffImagePlugin.ImageFileDirectory_v2()
            info[274] = orientation
            image.save(tf, format="TIFF", compression=compression, tiffinfo=info)
            tf.newFrame()


def shown(image, orientation):
    """The picture as exif_transpose shows a first page: turned by its tag, then RGB."""
    method = TRANSPOSE.get(orientation)
    return (image if method is None else image.transpose(method)).convert("RGB")


def pages_tiff():
    pages = [Image.new("RGB", (16, 12), colour) for colour in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    pages[0].save(os.path.join(OUT, "pages.tiff"), save_all=True, append_images=pages[1:])
    photo = Image.open(os.path.join(FIX, "images", "rgb8.png")).convert("RGB")
    mixed = [
        (photo.resize((24, 16)), "raw", 1),
        (photo.resize((10, 20)).convert("L"), "tiff_lzw", 3),
        (photo.resize((16, 16)).quantize(12), "packbits", 1),
        (photo.resize((12, 8)).convert("RGBA"), "tiff_adobe_deflate", 2),
        (photo.resize((16, 10)).convert("1"), "raw", 4),
        (photo.resize((20, 10)), "tiff_lzw", 6),
        (photo.resize((14, 8)).convert("L"), "raw", 8),
    ]
    many = [(Image.new("RGB", (4, 4), (12 * i, 255 - 12 * i, 7 * i)), "raw", 1) for i in range(20)]
    gold = os.path.join(FIX, "goldens", "viewer")
    meta = {}
    for name, pages in (("pages_mixed.tiff", mixed), ("pages_many.tiff", many)):
        write_pages(os.path.join(OUT, name), pages)
        upright = os.path.join(OUT, "upright-" + name)
        write_pages(upright, [(image, compression, 1) for image, compression, _ in pages])
        plain = Image.open(upright)
        opened = Image.open(os.path.join(OUT, name))
        assert opened.n_frames == plain.n_frames == len(pages)
        data, sizes = b"", []
        for n, (image, _, orientation) in enumerate(pages):
            plain.seek(n)
            decoded = plain.convert("RGB")
            assert decoded.tobytes() == image.convert("RGB").tobytes(), (name, n)
            # Turned as a detached RGB copy: transposing the seeked file object itself is unreliable.
            expected = shown(decoded, orientation)
            opened.seek(n)
            pillow = ImageOps.exif_transpose(opened).convert("RGB")
            if name == "pages_mixed.tiff" and n == len(pages) - 1:
                assert pillow.size != expected.size, "Pillow now turns this page: compare it bit for bit"
            else:
                assert pillow.tobytes() == expected.tobytes(), (name, n)
            data += expected.tobytes()
            sizes.append(list(expected.size))
        plain.close()
        os.remove(upright)
        with open(os.path.join(gold, name + ".rgb"), "wb") as f:
            f.write(data)
        meta[name] = sizes
    Image.new("RGB", (16, 12), (200, 30, 30)).save(os.path.join(OUT, "aspect.tiff"), dpi=(72, 144))
    frames = [Image.new("RGB", (16, 12), (0, 60 * i, 200)) for i in range(3)]
    frames[0].save(os.path.join(OUT, "aspect_phys.png"), save_all=True, append_images=frames[1:], duration=200,
                   dpi=(72, 144))
    for name in ("aspect.tiff", "aspect_phys.png"):
        opened = Image.open(os.path.join(OUT, name))
        data = b""
        for n in range(getattr(opened, "n_frames", 1)):
            opened.seek(n)
            data += ImageOps.exif_transpose(opened).convert("RGB").tobytes()
        with open(os.path.join(gold, name + ".rgb"), "wb") as f:
            f.write(data)
        meta[name] = [list(opened.size)]
    write_index(os.path.join(gold, "..", "tiff.json"), meta)


if __name__ == "__main__":
    main()
