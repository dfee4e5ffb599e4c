#!/usr/bin/env python3
"""Writes fixtures/manifest.json: for every file below fixtures/, what made it, where its content
comes from, its licence, and what the tests hold it to. The one writer of the manifest: run it
after any fixture generator (`gen_media_fixtures.py` calls it); a test fails when a file has no
entry or an entry no file. Needs only the standard library."""
import fnmatch
import json
import os
import sys

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
CC0 = "CC0 / public domain"
PHOTOS = "skimage/data photos (astronaut: NASA, public domain; chelsea, coffee, camera: CC0)"
LAVFI = "FFmpeg lavfi test sources (generated)"

# Entries shared by every file of a folder (first match of the glob wins).
FOLDERS = {
    "bench/metrics": {
        "expect": "every metric identical to scikit-learn's (goldens/bench/metrics.json) to 1e-9",
        "generator": "scripts/gen_metric_goldens.py",
        "licence": "CC0 / public domain",
        "source": "generated"
    },
    "bench/set": {
        "expect": "a labelled item of the synthetic bench set",
        "generator": "scripts/gen_bench_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "generated (Pillow)"
    },
    "damaged": {
        "expect": "decoded like Pillow (LOAD_TRUNCATED_IMAGES for truncated ones) with warnings",
        "generator": "scripts/gen_damaged_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "generated from fixtures/images and lavfi sources"
    },
    "detector": {
        "expect": "outputs within 1e-4 of onnxruntime's (goldens/detector/output-*.bin)",
        "generator": "scripts/gen_detector_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "random weights (PyTorch, seed 0)"
    },
    "gif": {
        "expect": "every frame composited as Pillow's seek(n).convert('RGB'), bit for bit",
        "generator": "scripts/gen_gif_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "generated (synthetic palette frames)",
        "tolerance": "exact"
    },
    "hd": {
        "expect": "evidence boxes in the displayed frame's pixels (EngineTests)",
        "generator": "scripts/gen_hd_fixtures.sh",
        "licence": "CC0 / public domain",
        "source": "FFmpeg lavfi testsrc2 (generated)"
    },
    "orientation": {
        "expect": "every frame as Pillow's exif_transpose(seek(n)), bit for bit (AVIF within 40 levels: FFmpeg's YUV conversion)",
        "generator": "scripts/gen_orientation_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "generated (Pillow)"
    },
    "server": {
        "expect": "the server's job result equals the library's scan at --every 0.01s (Tests/ServerTests)",
        "generator": "scripts/gen_server_fixtures.sh",
        "licence": "CC0 / public domain",
        "source": "FFmpeg lavfi testsrc2"
    },
    "viewer": {
        "expect": "pictures besides the main stream found and decoded exactly",
        "generator": "scripts/gen_viewer_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "generated from fixtures/images and lavfi sources"
    }
}

# Files whose entry is their own.
FILES = {
    "bench/set/broken.png": {
        "expect": "unreadable: reported, counted and left out",
        "generator": "scripts/gen_bench_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "generated (Pillow)"
    },
    "bench/set/manifest.csv": {
        "expect": "the set's manifest",
        "generator": "scripts/gen_bench_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "generated (Pillow)"
    },
    "bench/set/unsafebench.jsonl": {
        "expect": "the set's manifest",
        "generator": "scripts/gen_bench_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "generated (Pillow)"
    },
    "corrupt/fuzz_backward_cuts.webm": {
        "expect": "samples or a MediaError in every strategy, never a trap",
        "generator": "scripts/fuzz.sh (libFuzzer finding, video seeds)",
        "licence": "CC0 / public domain",
        "source": "mutated from fixtures/video"
    },
    "corrupt/fuzz_gif_code_size.gif": {
        "expect": "an LZW minimum code size of 11: was a trap (a code past 255 taken as a palette index), now a damaged frame",
        "generator": "scripts/fuzz.sh (libFuzzer finding, gif seeds)",
        "licence": "CC0 / public domain",
        "source": "mutated from fixtures/gif"
    },
    "corrupt/fuzz_huge_duration.h264": {
        "expect": "timestamps 42949673 s apart: sampling plans stay bounded (was a 1.6 GB set of grid points)",
        "generator": "scripts/fuzz.sh (libFuzzer corpus, video seeds)",
        "licence": "CC0 / public domain",
        "source": "mutated from fixtures/video"
    },
    "corrupt/fuzz_ico_fallback_recursion.ico": {
        "expect": "a MediaError, never a crash (fuzzer finding: the FFmpeg fallback for an undecodable ICO size recursed)",
        "generator": "scripts/fuzz.sh (libFuzzer finding)",
        "licence": "CC0 / public domain",
        "source": "derived from the fixtures above"
    },
    "corrupt/fuzz_slow_plan.h264": {
        "expect": "8 s and 3.2 GB before the plan fix (grid over a stated billion-second span), now 0.06 s",
        "generator": "scripts/fuzz.sh (libFuzzer slow unit, video seeds)",
        "licence": "CC0 / public domain",
        "source": "mutated from fixtures/video"
    },
    "corrupt/fuzz_slow_shots.h264": {
        "expect": "15 s before the fix (shot scan stepping 0.2 s at a time over huge timestamp gaps), now 0.05 s",
        "generator": "scripts/fuzz.sh (libFuzzer slow unit, video seeds)",
        "licence": "CC0 / public domain",
        "source": "mutated from fixtures/video"
    },
    "gif/no_global_palette.gif": {
        "expect": "every frame composited as Pillow's seek(n).convert('RGB'), bit for bit",
        "generator": "scripts/gen_gif_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "fixtures/gif/disposal2.gif with its global palette moved into the frames",
        "tolerance": "exact"
    },
    "gif/no_palette.gif": {
        "expect": "every frame composited as Pillow's seek(n).convert('RGB'), bit for bit",
        "generator": "scripts/gen_gif_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "fixtures/gif/disposal2.gif with every palette removed (Pillow: grey, mode L)",
        "tolerance": "exact"
    },
    "gif/truncated_animation.gif": {
        "expect": "frames as Pillow shows them with LOAD_TRUNCATED_IMAGES, bit for bit; warnings: truncated",
        "generator": "scripts/gen_gif_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "fixtures/gif/interlaced.gif cut at 75%",
        "tolerance": "exact"
    },
    "viewer/aspect.tiff": {
        "expect": "decoded at its stored size, its 72x144 dpi not applied (as Pillow)",
        "generator": "scripts/gen_viewer_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "generated (Pillow)"
    },
    "viewer/aspect_phys.png": {
        "expect": "every frame at its stored size, its 1:2 pHYs not applied (as Pillow)",
        "generator": "scripts/gen_viewer_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "generated (Pillow)"
    },
    "viewer/pages.tiff": {
        "expect": "every page decoded (the first as the image, the others as tiff_page pictures)",
        "generator": "scripts/gen_viewer_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "generated (Pillow)"
    },
    "viewer/pages_many.tiff": {
        "expect": "the first page and 16 further pages decoded, the other 3 reported past the cap",
        "generator": "scripts/gen_viewer_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "generated (Pillow)"
    },
    "viewer/pages_mixed.tiff": {
        "expect": "every page (RGB, L, P, RGBA, 1-bit; raw, LZW, PackBits, Deflate) bit for bit with goldens/viewer/pages_mixed.tiff.rgb, each turned by its own orientation tag (Pillow's exif_transpose(seek(n)) on all but the last page, which Pillow 13 garbles)",
        "generator": "scripts/gen_viewer_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "fixtures/images/rgb8.png resized (Pillow)"
    },
    "viewer/sizes_bmp32.ico": {
        "expect": "every size decoded as Pillow's ico.getimage(size).convert('RGB'), bit for bit; the largest is the image",
        "generator": "scripts/gen_viewer_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "fixtures/images/rgb8.png resized (Pillow)"
    },
    "viewer/sizes_bmp8.ico": {
        "expect": "every size decoded as Pillow's ico.getimage(size).convert('RGB'), bit for bit; the largest is the image",
        "generator": "scripts/gen_viewer_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "fixtures/images/rgb8.png resized (Pillow)"
    },
    "viewer/sizes_png.ico": {
        "expect": "every size decoded as Pillow's ico.getimage(size).convert('RGB'), bit for bit; the largest is the image",
        "generator": "scripts/gen_viewer_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "fixtures/images/rgb8.png resized (Pillow)"
    },
    "viewer/stereo.mpo": {
        "expect": "every image as Pillow's seek(n), bit for bit (goldens/viewer/stereo.mpo.rgb)",
        "generator": "scripts/gen_viewer_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "generated (Pillow)"
    },
    "viewer/two_streams.mkv": {
        "expect": "both video streams sampled, each at its own size",
        "generator": "scripts/gen_viewer_fixtures.py",
        "licence": "CC0 / public domain",
        "source": "FFmpeg lavfi test sources (generated)"
    }
}

# Files no earlier generator described: (glob, generator, source, expect).
RULES = [
    ("README.md", "hand-written", "the project", "describes the fixtures"),
    ("concepts/*", "scripts/gen_safree_goldens.py", "hand-written concept phrases", "SAFREE goldens (goldens/safree)"),
    ("images/preprocess-*.jpg", "scripts/gen_vision_fixtures.py", PHOTOS,
     "Pillow's resize and crop byte for byte (goldens/vision/preprocess)"),
    ("orientation/double_*", "scripts/gen_orientation_fixtures.py", "generated (Pillow)",
     "every frame as Pillow's exif_transpose(seek(n)), bit for bit"),
    ("policies/test-policies.json", "scripts/gen_policy_goldens.py", "hand-written test pack",
     "scores and verdicts equal the PyTorch scoring (goldens/policy)"),
    ("policies/detect-policies.json", "hand-written", "hand-written test pack",
     "detector rules decide their policy (EngineTests/DetectorPolicyTests)"),
    ("models/*", "scripts/gen_vision_fixtures.py", "random weights (transformers/diffusers, fixed seeds)",
     "loads strictly; outputs within 1e-4 of the tensor's scale of PyTorch's (goldens/vision)"),
    ("tokenizers/*", "scripts/gen_vision_fixtures.py", "OpenAI's BPE vocabulary (open_clip_torch wheel, MIT)",
     "token ids identical to transformers' (goldens/vision/tokenizer.json)"),
    ("goldens/media.json", "scripts/gen_media_fixtures.py", "Pillow, ffmpeg and ffprobe", "read by MediaTests"),
    ("goldens/images/*", "scripts/gen_media_fixtures.py", "Pillow's exif_transpose(open(p)).convert('RGB')",
     "the reference pixels of fixtures/images"),
    ("goldens/video/*", "scripts/gen_media_fixtures.py", "the ffmpeg CLI's first frame",
     "the reference pixels of fixtures/video"),
    ("goldens/damaged*", "scripts/gen_damaged_fixtures.py", "Pillow with LOAD_TRUNCATED_IMAGES",
     "the reference pixels of fixtures/damaged"),
    ("goldens/gif*", "scripts/gen_gif_fixtures.py", "Pillow's seek(n).convert('RGB')", "the reference pixels of fixtures/gif"),
    ("goldens/orientation*", "scripts/gen_orientation_fixtures.py", "Pillow's exif_transpose(seek(n))",
     "the reference pixels of fixtures/orientation"),
    ("goldens/viewer/*", "scripts/gen_viewer_fixtures.py", "Pillow", "the reference pixels of fixtures/viewer"),
    ("goldens/ico.json", "scripts/gen_viewer_fixtures.py", "Pillow", "ICO sizes as Pillow lists them"),
    ("goldens/tiff.json", "scripts/gen_viewer_fixtures.py", "Pillow", "TIFF pages as Pillow reads them"),
    ("goldens/detector.json", "scripts/gen_detector_fixtures.py", "onnxruntime", "the detector goldens' index"),
    ("goldens/detector/input.json", "scripts/gen_nudenet_input_goldens.py", "the nudenet package's _read_image",
     "the detector input bit for bit"),
    ("goldens/detector/input-*", "scripts/gen_detector_fixtures.py", "random inputs", "the graph's inputs"),
    ("goldens/detector/output-*", "scripts/gen_detector_fixtures.py", "onnxruntime", "the graph within 1e-4"),
    ("goldens/detector/postprocess*", "scripts/gen_nudenet_postprocess_goldens.py",
     "the nudenet package's _postprocess", "decoding and suppression bit for bit"),
    ("goldens/policy/*", "scripts/gen_policy_goldens.py", "an independent PyTorch scoring",
     "scores within 1e-5, verdicts identical"),
    ("goldens/safree/*", "scripts/gen_safree_goldens.py", "an independent numpy SAFREE", "triggers, β and t′ identical"),
    ("goldens/vision/*", "scripts/gen_vision_fixtures.py", "PyTorch (transformers, diffusers) and Pillow",
     "embeddings within 1e-4 of scale, row cosine ≥ 0.99999; pixels byte for byte; token ids identical"),
    ("goldens/bench/metrics.json", "scripts/gen_metric_goldens.py", "scikit-learn", "every metric identical to 1e-9"),
    ("goldens/bench/*", "scripts/gen_heads_goldens.py", "scikit-learn's LogisticRegression",
     "heads and probabilities within 1e-6"),
]


def media_entries(goldens):
    """images/, video/ and corrupt/ from gen_media_fixtures.py, with each golden's tolerance."""
    entries = {}
    for folder, source in (("images", PHOTOS), ("video", LAVFI), ("corrupt", "derived from the fixtures above")):
        for name in sorted(os.listdir(os.path.join(FIX, folder))):
            entry = {"generator": "scripts/gen_media_fixtures.py", "source": source, "licence": CC0}
            if folder == "images" and name in goldens["images"]:
                g = goldens["images"][name]
                entry["golden"] = f"goldens/images/{name}.rgb (Pillow {goldens['generator']['pillow']})"
                entry["tolerance"] = {"max_abs_diff": g["max_abs_diff"], "mean_abs_diff": g["mean_abs_diff"]}
            elif folder == "video" and goldens["video"].get(name, {}).get("has_video"):
                entry["golden"] = f"goldens/video/{name}.rgb (ffmpeg CLI first frame) and ffprobe frame times"
                entry["tolerance"] = "timestamps exact; first frame max abs diff 2 (8 when rotated)"
            elif folder == "video" and name not in goldens["video"]:
                continue
            else:
                entry["expect"] = "a MediaError, never a crash"
            entries[f"{folder}/{name}"] = entry
    return entries


def entry(path, media):
    if path in FILES:
        return FILES[path]
    if path in media:
        return media[path]
    for pattern, generator, source, expect in RULES:
        if fnmatch.fnmatch(path, pattern):
            return {"generator": generator, "source": source, "licence": CC0, "expect": expect}
    folder = os.path.dirname(path)
    if folder in FOLDERS:
        return FOLDERS[folder]
    sys.exit(f"gen_manifest.py: no rule describes fixtures/{path}; add one")


def main():
    with open(os.path.join(FIX, "goldens", "media.json")) as f:
        media = media_entries(json.load(f))
    manifest = {}
    for root, _, names in os.walk(FIX):
        for name in names:
            path = os.path.relpath(os.path.join(root, name), FIX)
            if path != "manifest.json":
                manifest[path] = entry(path, media)
    with open(os.path.join(FIX, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"fixtures/manifest.json: {len(manifest)} files")


if __name__ == "__main__":
    main()
