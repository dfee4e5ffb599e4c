#!/usr/bin/env python3
"""Pictures whose orientation lives where the first decoders ignored it, with Pillow's frames as goldens.

- anim_exif6.webp, anim_exif3.webp: animated WebP (3 frames) with an EXIF chunk (orientation 6, 3);
- exif6.tiff, exif5.tiff: TIFF with the orientation tag (274), which FFmpeg's demuxer does not apply;
- raw_profile6.png (tEXt), raw_profile7.png (zTXt): ImageMagick's `Raw profile type exif` hex dump;
- xmp8.png (iTXt), xmp3.jpg (APP1), xmp6.webp (XMP chunk): orientation only in the XMP packet;
- double_exif6.jpg (APP1), double_exif3.png (eXIf), double_exif8.webp (EXIF chunk),
  double_raw_profile5.png (tEXt): the EXIF payload behind a doubled "Exif\0\0" prefix (the
  PNG eXIf and WebP chunk keep one or two after Pillow's writer strips one), which Pillow reads;
- avif2.avif … avif8.avif: AVIF transforms for EXIF orientations 2-8 (Pillow writes them as
  irot/imir), which FFmpeg's demuxer ignores. AVIF pixels come from FFmpeg's YUV
  conversion, not libavif's, hence a tolerance (the README's AVIF row).
Goldens: every frame as `ImageOps.exif_transpose(im.seek(n)).convert("RGB")`, concatenated.
Offline, not in CI (needs Pillow). Writes fixtures/orientation/ and fixtures/goldens/orientation.json.
"""
import os

from PIL import Image, ImageOps, PngImagePlugin

from golden_files import write_index

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
OUT = os.path.join(FIX, "orientation")
GOLD = os.path.join(FIX, "goldens", "orientation")


def frames(size=(40, 24)):
    """Three frames with an asymmetric pattern, so every rotation and mirror shows."""
    out = []
    for n in range(3):
        im = Image.new("RGB", size, (20 + 60 * n, 40, 200 - 50 * n))
        for x in range(size[0]):
            for y in range(size[1]):
                if x < size[0] // 3 and y < size[1] // 2:
                    im.putpixel((x, y), (250, 250 - 80 * n, 10))
                elif x == size[0] - 2 or y == size[1] - 3:
                    im.putpixel((x, y), (0, 200, 30 * n))
        out.append(im)
    return out


def exif(orientation):
    e = Image.Exif()
    e[0x0112] = orientation
    return e.tobytes()


def raw_profile(orientation, prefixes=""):
    # Pillow's bytes start with the "Exif\0\0" prefix ImageMagick writes too
    data = prefixes.encode() + exif(orientation)
    hexdump = data.hex()
    lines = [hexdump[i:i + 72] for i in range(0, len(hexdump), 72)]
    return "\nexif\n" + f"{len(data):8d}\n" + "\n".join(lines) + "\n"


def xmp(orientation, attribute):
    value = (f'tiff:Orientation="{orientation}"' if attribute
             else f"><tiff:Orientation>{orientation}</tiff:Orientation")
    return ('<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
            f'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" {value}></rdf:Description></rdf:RDF></x:xmpmeta>'
            '<?xpacket end="w"?>').replace("><tiff", " ><tiff", 1).encode()


def main():
    os.makedirs(OUT, exist_ok=True)
    still = frames()[0]
    for orientation, compressed in ((6, False), (7, True)):
        info = PngImagePlugin.PngInfo()
        info.add_text("Raw profile type exif", raw_profile(orientation), zip=compressed)
        still.save(os.path.join(OUT, f"raw_profile{orientation}.png"), pnginfo=info)
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp(8, True).decode())
    still.save(os.path.join(OUT, "xmp8.png"), pnginfo=info)
    still.save(os.path.join(OUT, "xmp3.jpg"), quality=95, xmp=xmp(3, False))
    still.save(os.path.join(OUT, "xmp6.webp"), lossless=True, xmp=xmp(6, True))
    prefix = b"Exif\0\0"
    still.save(os.path.join(OUT, "double_exif6.jpg"), quality=95, exif=prefix + exif(6))
    # Pillow's PNG and WebP writers strip one prefix: two given leave one, three leave two.
    still.save(os.path.join(OUT, "double_exif3.png"), exif=prefix + exif(3))
    still.save(os.path.join(OUT, "double_exif8.webp"), lossless=True, exif=prefix * 2 + exif(8))
    info = PngImagePlugin.PngInfo()
    info.add_text("Raw profile type exif", raw_profile(5, "Exif\0\0"))
    still.save(os.path.join(OUT, "double_raw_profile5.png"), pnginfo=info)
    for orientation in range(2, 9):
        still.save(os.path.join(OUT, f"avif{orientation}.avif"), quality=100, exif=exif(orientation))
    os.makedirs(GOLD, exist_ok=True)
    for orientation in (6, 3):
        f = frames()
        f[0].save(os.path.join(OUT, f"anim_exif{orientation}.webp"), save_all=True, append_images=f[1:],
                  duration=200, loop=0, lossless=True, exif=exif(orientation))
    for orientation in (6, 5):
        frames()[0].save(os.path.join(OUT, f"exif{orientation}.tiff"), tiffinfo={274: orientation})
    meta = {}
    for name in sorted(os.listdir(OUT)):
        im = Image.open(os.path.join(OUT, name))
        data = b""
        count = getattr(im, "n_frames", 1)
        for n in range(count):
            im.seek(n)
            shown = ImageOps.exif_transpose(im).convert("RGB")
            data += shown.tobytes()
        with open(os.path.join(GOLD, name + ".rgb"), "wb") as f:
            f.write(data)
        meta[name] = {"frames": count, "width": shown.width, "height": shown.height,
                      "max_abs_diff": 40 if name.endswith(".avif") else 0}
    write_index(os.path.join(FIX, "goldens", "orientation.json"), meta)


if __name__ == "__main__":
    main()
