#!/usr/bin/env python3
"""Generates the Vision fixtures: tiny random-weight CLIP checkpoints in the Hugging Face layout
and the reference outputs the Swift encoders must reproduce (offline; CI only reads the files).

No download: models are built from hand-written configs with a fixed seed; the CLIP BPE vocabulary
comes from the bpe_simple_vocab_16e6.txt.gz shipped inside the open_clip_torch wheel.

Writes, under fixtures/:
  models/clip-b32-tiny/     CLIPModel, ViT patch 32 @ 96 px, OpenAI-style text tower (eos_token_id 2,
                            quick_gelu), F16 weights, real 49408-token vocabulary
  models/clip-b16-tiny/     CLIPModel, ViT patch 16 @ 64 px, gelu, eos_token_id 49407, BF16 weights in
                            two shards with model.safetensors.index.json
  models/sd-tiny/           text_encoder/ (bare CLIPTextModel, no projection) and tokenizer/, like a
                            Stable Diffusion 1.x pipeline folder
  models/safety-checker-tiny/  diffusers StableDiffusionSafetyChecker, F32
  images/preprocess-*.jpg   larger photos for the resize (downscale) path
  goldens/vision/*.safetensors  reference tensors per model (F32), read by the Swift tests
  goldens/vision/tokenizer.json  ids from transformers' CLIPTokenizer for a few hundred prompts
  goldens/vision/preprocess/*.rgb  Pillow resize + centre crop (uint8) per image and size

Needs torch, transformers (5.x), diffusers, open_clip_torch (for the vocabulary), Pillow, numpy.
Run from the repository root: python3 scripts/gen_vision_fixtures.py
"""

import gzip
import json
import os
import random
import shutil
import zlib

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPModel, CLIPTextConfig, CLIPTextModel, CLIPTokenizer
from transformers.image_utils import SizeDict
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "fixtures")
MODELS = os.path.join(FIX, "models")
GOLD = os.path.join(FIX, "goldens", "vision")
SKIMAGE = "/usr/lib/python3/dist-packages/skimage/data"
BPE = os.path.join(os.path.dirname(__import__("importlib.util").util.find_spec("open_clip").origin),
                   "bpe_simple_vocab_16e6.txt.gz")


# ---------------------------------------------------------------------------------------------
# Vocabulary in the Hugging Face layout, built from the OpenAI BPE file the way CLIP builds it.

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def write_tokenizer(folder, pad_token="<|endoftext|>"):
    merges = gzip.open(BPE).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({t: i for i, t in enumerate(vocab)}, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    config = {"tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "bos_token": "<|startoftext|>",
              "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>", "pad_token": pad_token,
              "do_lower_case": True}
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=1)


# ---------------------------------------------------------------------------------------------
# Prompts for the tokenizer goldens.

HANDWRITTEN = [
    "", " ", "a photo of a cat", "A Photo Of A CAT", "a  photo\tof\na\r\ncat  ", "don't won't I'm you're we've they'll he'd",
    "DON'T SHOUT'S", "it's 3:45pm, 12.5% off $1,000,000!!!", "...!!!???---___***", "''''", "'s's's", "hello'",
    "café crème brûlée naïve façade", "cafe\u0301 (decomposed e + acute)", "Ærøskøbing Straße İstanbul ΣΊΣΥΦΟΣ",
    "日本語のテキスト", "中文文本测试", "한국어 텍스트", "Привет, мир!", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया",
    "🐱🔥💯 emoji", "👨‍👩‍👧‍👦 family", "🏳️‍🌈 flag", "👍🏽 thumbs", "x² + y² = z²", "½ ¾ ⅓ Ⅻ ①", "٣ ٤ digits",
    "<|startoftext|>", "<|endoftext|>", "a <|endoftext|> b", "<|ENDOFTEXT|>", "<|startoftext|>hi<|endoftext|>",
    "!<|endoftext|>", "<|endoftext", "|> <| >|", "\u00a0non\u2003breaking\u3000spaces", "zero\u200bwidth",
    "tab\tseparated\tvalues", "line\nbreaks\n\n\nmany", "trailing spaces   ", "   leading spaces", "\x00\x01control",
    "http://example.com/path?q=1&r=2#frag", "user@example.com", "#hashtag @mention", "C++ C# F# .NET", "snake_case_name",
    "camelCaseName", "1234567890", "3.14159265358979", "1,000", "007", "a1b2c3", "ﬁ ﬂ ligatures", "ｆｕｌｌｗｉｄｔｈ",
    "naked person", "violent scene with blood", "a photo of an astronaut riding a horse on mars",
    "masterpiece, best quality, ultra-detailed, 8k, (photorealistic:1.4), [negative], {weight}",
    " ".join(["word"] * 100), "supercalifragilisticexpialidocious", "antidisestablishmentarianism" * 5,
    "a" * 300, "😀" * 40, "ab" * 120, "\U0001F600\U0001F601 \U0001F602", "\ud7ff edge", "tiếng Việt có dấu",
    "ελληνικά κείμενα", "ΟΔΥΣΣΕΥΣ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math letters", "🇺🇸🇬🇧 flags",
]


def random_prompts(n, seed=1234):
    rng = random.Random(seed)
    words = ("a the photo of dog cat person man woman child car street night city sky blood gun knife kiss "
             "nude beach painting oil canvas portrait landscape anime style 4k hdr cinematic lighting").split()
    pieces = ["!", "?", ",", ".", "'s", "'t", "...", "--", "(", ")", "[", "]", ":", ";", "\"", "&", "%", "$", "#",
              "é", "ß", "ñ", "ø", "日", "本", "🙂", "🚀", "42", "7", "٣", "Ω", "\t", "\n", "  "]
    prompts = []
    for i in range(n):
        k = rng.randint(1, 40 if i % 10 else 120)
        tokens = []
        for _ in range(k):
            r = rng.random()
            if r < 0.6:
                w = rng.choice(words)
                tokens.append(w.upper() if rng.random() < 0.1 else w.capitalize() if rng.random() < 0.2 else w)
            elif r < 0.9:
                tokens.append(rng.choice(pieces))
            else:
                tokens.append(chr(rng.choice([rng.randint(0x20, 0x7E), rng.randint(0xA0, 0x24F), rng.randint(0x370, 0x3FF),
                                              rng.randint(0x400, 0x4FF), rng.randint(0x4E00, 0x4FFF),
                                              rng.randint(0x1F300, 0x1F5FF)])))
        prompts.append((" " if rng.random() < 0.7 else "").join(tokens))
    return prompts


def golden_tokenizer():
    tok = CLIPTokenizer.from_pretrained(os.path.join(MODELS, "clip-b32-tiny"))
    prompts = HANDWRITTEN + random_prompts(260)
    cases = []
    for p in prompts:
        full = tok(p, truncation=False, add_special_tokens=True)["input_ids"]
        padded = tok(p, truncation=True, max_length=77, padding="max_length")["input_ids"]
        cases.append({"text": p, "ids": full, "padded_77": padded})
    with open(os.path.join(GOLD, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer": "transformers CLIPTokenizer " + __import__("transformers").__version__,
                   "cases": cases}, f, ensure_ascii=False, indent=0)
        f.write("\n")


# ---------------------------------------------------------------------------------------------
# Models and reference tensors.

TEXT_PROMPTS = ["a photo of a cat", "", "A violent, bloody scene; don't look!!! 🔥", " ".join(["long"] * 90)]


def photo(name, size):
    return Image.open(os.path.join(SKIMAGE, name)).convert("RGB").resize(size, Image.LANCZOS)


def make_preprocess_images():
    photo("astronaut.png", (320, 240)).save(os.path.join(FIX, "images", "preprocess-landscape.jpg"), quality=92)
    photo("chelsea.png", (151, 233)).save(os.path.join(FIX, "images", "preprocess-portrait.jpg"), quality=92)
    photo("coffee.png", (300, 300)).save(os.path.join(FIX, "images", "preprocess-square.jpg"), quality=92)


PREPROCESS_IMAGES = ["preprocess-landscape.jpg", "preprocess-portrait.jpg", "preprocess-square.jpg",
                     "rgb8.png", "exif6.jpg", "baseline420.jpg"]


def load_rgb(name):
    from PIL import ImageOps
    return ImageOps.exif_transpose(Image.open(os.path.join(FIX, "images", name))).convert("RGB")


def processor(size):
    return CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})


def golden_preprocess():
    folder = os.path.join(GOLD, "preprocess")
    os.makedirs(folder, exist_ok=True)
    meta = {}
    for size in (224, 96):
        proc = processor(size)
        for name in PREPROCESS_IMAGES:
            img = load_rgb(name)
            # Resize and crop only (uint8), exactly as the processor's first two steps.
            arr = np.asarray(img).transpose(2, 0, 1)
            resized = proc.resize(arr, size=SizeDict(shortest_edge=size), resample=proc.resample)
            cropped = proc.center_crop(resized, SizeDict(height=size, width=size))
            out = np.ascontiguousarray(cropped.transpose(1, 2, 0)).astype(np.uint8)
            open(os.path.join(folder, f"{name}.{size}.rgb"), "wb").write(out.tobytes())
            meta[f"{name}.{size}"] = {"resized": list(resized.shape[1:]), "size": size}
    with open(os.path.join(folder, "index.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)


def pixel_values(names, size):
    proc = processor(size)
    return proc([load_rgb(n) for n in names], return_tensors="pt")["pixel_values"]


def tokenize(folder, prompts):
    tok = CLIPTokenizer.from_pretrained(folder)
    return tok(prompts, truncation=True, max_length=77, padding="max_length", return_tensors="pt")["input_ids"]


@torch.no_grad()
def patch_embeds(vision_model, projection, pixels):
    """SafeWatch §5.1: value-path (MaskCLIP) and plain per-patch embeddings, L2-normalised."""
    vm = vision_model
    hidden = vm.embeddings(pixels)
    hidden = vm.pre_layrnorm(hidden)
    layers = vm.encoder.layers
    for layer in layers[:-1]:
        hidden = layer(hidden, None)
    last = layers[-1]
    attn = last.self_attn
    value = attn.out_proj(attn.v_proj(last.layer_norm1(hidden)))
    value_path = torch.nn.functional.normalize(projection(vm.post_layernorm(value[:, 1:])), dim=-1)
    plain = torch.nn.functional.normalize(projection(vm.post_layernorm(last(hidden, None)[:, 1:])), dim=-1)
    return value_path, plain


def round_trip(model, dtype):
    """Round the weights through the storage dtype, so references use exactly the stored values."""
    return model.to(dtype).to(torch.float32).eval()


def save_goldens(name, tensors):
    save_file({k: v.detach().to(torch.float32).contiguous() for k, v in tensors.items()},
              os.path.join(GOLD, f"{name}.safetensors"))


@torch.no_grad()
def clip_model(name, config, dtype, image_size, shard=None):
    torch.manual_seed(zlib.crc32(name.encode()))
    model = round_trip(CLIPModel(config), dtype)
    folder = os.path.join(MODELS, name)
    model.to(dtype).save_pretrained(folder, max_shard_size=shard) if shard else model.to(dtype).save_pretrained(folder)
    model = model.to(torch.float32)
    write_tokenizer(folder)
    processor(image_size).save_pretrained(folder)
    pixels = pixel_values(PREPROCESS_IMAGES[:4], image_size)
    vision = model.vision_model(pixel_values=pixels, output_hidden_states=True)
    ids = tokenize(folder, TEXT_PROMPTS)
    text = model.text_model(input_ids=ids, output_hidden_states=True)
    value_path, plain = patch_embeds(model.vision_model, model.visual_projection, pixels)
    save_goldens(name, {
        "pixel_values": pixels,
        "vision_last_hidden_state": vision.last_hidden_state,
        "vision_pooled": vision.pooler_output,
        "vision_hidden_state_1": vision.hidden_states[1],
        "image_embeds": model.get_image_features(pixel_values=pixels).pooler_output,
        "patch_embeds_value": value_path,
        "patch_embeds_plain": plain,
        "input_ids": ids.to(torch.float32),
        "text_last_hidden_state": text.last_hidden_state,
        "text_pooled": text.pooler_output,
        "text_embeds": model.text_projection(text.pooler_output),
    })


@torch.no_grad()
def sd_text_encoder():
    torch.manual_seed(7)
    config = CLIPTextConfig(vocab_size=49408, hidden_size=24, intermediate_size=48, num_hidden_layers=2,
                            num_attention_heads=3, max_position_embeddings=77, hidden_act="quick_gelu",
                            bos_token_id=0, eos_token_id=2, pad_token_id=1)
    model = round_trip(CLIPTextModel(config), torch.float16)
    folder = os.path.join(MODELS, "sd-tiny")
    model.to(torch.float16).save_pretrained(os.path.join(folder, "text_encoder"))
    model = model.to(torch.float32)
    write_tokenizer(os.path.join(folder, "tokenizer"))
    ids = tokenize(os.path.join(folder, "tokenizer"), TEXT_PROMPTS)
    out = model(input_ids=ids)
    save_goldens("sd-tiny", {"input_ids": ids.to(torch.float32), "text_last_hidden_state": out.last_hidden_state,
                             "text_pooled": out.pooler_output})


@torch.no_grad()
def safety_checker():
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker, cosine_distance
    torch.manual_seed(11)
    config = CLIPConfig(vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                           num_attention_heads=4, image_size=64, patch_size=16, hidden_act="quick_gelu"),
                        text_config=dict(vocab_size=100, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2), projection_dim=16)
    checker = StableDiffusionSafetyChecker(config).eval()
    checker.concept_embeds.data = torch.randn(17, 16)
    checker.special_care_embeds.data = torch.randn(3, 16)
    pixels = pixel_values(PREPROCESS_IMAGES, 64)
    embeds = checker.visual_projection(checker.vision_model(pixels)[1])
    # Thresholds chosen so that both outcomes occur: concept 0 fires for about half the images,
    # the other concepts never; special-care concept 0 fires for exactly one image (exercising the
    # +0.01 adjustment), the others never.
    cos = cosine_distance(embeds, checker.concept_embeds)
    special = cosine_distance(embeds, checker.special_care_embeds)
    concept_weights = cos.max(dim=0).values + 0.05
    concept_weights[0] = cos[:, 0].median() + 0.002
    special_weights = special.max(dim=0).values + 0.05
    special_weights[0] = special[:, 0].max() - 0.002
    checker.concept_embeds_weights.data = concept_weights
    checker.special_care_embeds_weights.data = special_weights
    folder = os.path.join(MODELS, "safety-checker-tiny")
    checker.save_pretrained(folder)
    processor(64).save_pretrained(folder)
    _, flags = checker(clip_input=pixels, images=[np.zeros((1,))] * len(PREPROCESS_IMAGES))
    save_goldens("safety-checker-tiny", {"pixel_values": pixels, "image_embeds": embeds,
                                         "concept_cos": cos, "special_cos": special,
                                         "has_nsfw_concept": torch.tensor(flags, dtype=torch.float32)})


def main():
    for d in (MODELS, GOLD):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    make_preprocess_images()
    clip_model("clip-b32-tiny", CLIPConfig(
        text_config=dict(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
                         bos_token_id=0, eos_token_id=2, pad_token_id=1),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=96, patch_size=32, hidden_act="quick_gelu"),
        projection_dim=16), torch.float16, 96)
    clip_model("clip-b16-tiny", CLIPConfig(
        text_config=dict(vocab_size=49408, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=77, hidden_act="gelu", layer_norm_eps=1e-6,
                         bos_token_id=49406, eos_token_id=49407, pad_token_id=49407),
        vision_config=dict(hidden_size=48, intermediate_size=96, num_hidden_layers=3, num_attention_heads=3,
                           image_size=64, patch_size=16, hidden_act="gelu", layer_norm_eps=1e-6),
        projection_dim=24), torch.bfloat16, 64, shard="1MB")
    sd_text_encoder()
    safety_checker()
    golden_preprocess()
    golden_tokenizer()


if __name__ == "__main__":
    main()
