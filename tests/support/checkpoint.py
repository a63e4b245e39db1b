"""Build X-CLIP checkpoint folders with random weights, entirely offline.

The tests and benchmarks cannot reach the Hugging Face hub, so they build a checkpoint folder that
has the same layout as ``microsoft/xclip-base-patch32`` (``config.json``, ``model.safetensors``, a
CLIP byte-level BPE tokenizer and the preprocessor config) and load it through the very same
``from_pretrained`` calls users run against the real model. The weights are random, so embeddings
carry no meaning, but they are deterministic and distinct for distinct inputs.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from functools import lru_cache
from pathlib import Path

import torch
from transformers import XCLIPConfig, XCLIPModel

BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"
END_OF_WORD = "</w>"
MAX_TEXT_TOKENS = 77
SEED = 20240601

# The merges are learned from this text, so that everyday queries about what happens in a video
# split into a handful of whole-word or sub-word tokens instead of single letters.
_CORPUS = """
a an the and or of to in on at by for with from into over under up down out off near far
is are was were be been being has have had do does did can will would should could may might
this that these those there here it its his her their our your my one two three some many all
man woman person people child children boy girl baby dog dogs cat cats bird birds horse fish cow
car cars truck bus bike bicycle train plane boat ship road street city town house room kitchen
water lake river sea ocean beach sand snow rain sun sky cloud clouds tree trees forest grass park
mountain hill field garden fire light night day morning evening red green blue yellow black white
orange purple pink brown gray dark bright big small large little long short old young new fast slow
run running runs walk walking walks jump jumping jumps swim swimming play playing plays eat eating
drink drinking cook cooking dance dancing sing singing talk talking ride riding drive driving fly
flying sit sitting stand standing sleep sleeping read reading write writing throw throwing catch
catching kick kicking climb climbing fall falling open opening close closing look looking watch
watching turn turning move moving moves shot scene video clip frame camera movie music sound game
ball football soccer basketball tennis guitar piano phone computer table chair door window wall
spaghetti food pizza cake bread coffee tea cup glass plate sports shopping playing go going gone
red car blue sky a dog jumping into a lake a man riding a bike a woman playing the guitar
people dancing at night a cat sleeping on a chair children playing football in the park
"""


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """Map every byte to a printable unicode character, exactly as CLIP's and GPT-2's BPE do.

    Byte-level BPE works on these characters so that any input text can be encoded without an
    unknown token: printable ASCII and Latin-1 map to themselves, the rest to code points >= 256.
    """
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, (chr(code) for code in codes), strict=True))


def learn_merges(corpus: str, max_merges: int = 600) -> list[tuple[str, str]]:
    """Learn BPE merges from ``corpus`` the way CLIP's were learned: words end in ``</w>``.

    Deterministic: ties between equally frequent pairs are broken by the pair's text.
    """
    byte_chars = bytes_to_unicode()
    words: Counter[tuple[str, ...]] = Counter()
    for word in corpus.lower().split():
        chars = [byte_chars[b] for b in word.encode("utf-8")]
        chars[-1] += END_OF_WORD
        words[tuple(chars)] += 1
    merges: list[tuple[str, str]] = []
    while len(merges) < max_merges:
        pairs: Counter[tuple[str, str]] = Counter()
        for symbols, count in words.items():
            for pair in itertools.pairwise(symbols):
                pairs[pair] += count
        if not pairs:
            break
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        merges.append(best)
        words = Counter({_merge_pair(symbols, best): count for symbols, count in words.items()})
    return merges


def _merge_pair(symbols: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    merged: list[str] = []
    i = 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            merged.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            merged.append(symbols[i])
            i += 1
    return tuple(merged)


def write_tokenizer(folder: Path) -> int:
    """Write a CLIP BPE tokenizer (vocab.json, merges.txt and configs) into ``folder``.

    The vocabulary is ordered like CLIP's: the 256 byte characters, the same with ``</w>``, one
    entry per merge, then ``<|startoftext|>`` and ``<|endoftext|>`` last. X-CLIP's text tower
    pools at ``argmax(input_ids)``, so ``<|endoftext|>`` must have the highest id, as in CLIP.
    Returns the vocabulary size.
    """
    byte_chars = list(bytes_to_unicode().values())
    merges = learn_merges(_CORPUS)
    tokens = byte_chars + [c + END_OF_WORD for c in byte_chars] + ["".join(m) for m in merges]
    tokens += [BOS_TOKEN, EOS_TOKEN]
    vocab = {token: index for index, token in enumerate(tokens)}
    if len(vocab) != len(tokens):
        raise ValueError("duplicate tokens in the generated vocabulary")

    folder.mkdir(parents=True, exist_ok=True)
    _write_json(folder / "vocab.json", vocab)
    lines = ["#version: 0.2"] + [f"{left} {right}" for left, right in merges]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    special = {
        "bos_token": BOS_TOKEN,
        "eos_token": EOS_TOKEN,
        "unk_token": EOS_TOKEN,
        "pad_token": EOS_TOKEN,
    }
    _write_json(folder / "special_tokens_map.json", special)
    _write_json(
        folder / "tokenizer_config.json",
        {
            **special,
            "add_prefix_space": False,
            "do_lower_case": True,
            "errors": "replace",
            "model_max_length": MAX_TEXT_TOKENS,
            "tokenizer_class": "CLIPTokenizer",
        },
    )
    return len(vocab)


def write_preprocessor_config(folder: Path) -> None:
    """Write ``preprocessor_config.json`` exactly as ``microsoft/xclip-base-patch32`` ships it.

    Shortest edge to 224 (``resample=2`` is PIL's BILINEAR), center crop 224, rescale by 1/255,
    ImageNet mean and std. transformers 5 maps the legacy ``VideoMAEFeatureExtractor`` to
    ``VideoMAEImageProcessor``, and to its PIL variant when torchvision is not installed.
    """
    _write_json(
        folder / "preprocessor_config.json",
        {
            "crop_size": 224,
            "do_center_crop": True,
            "do_normalize": True,
            "do_resize": True,
            "feature_extractor_type": "VideoMAEFeatureExtractor",
            "image_mean": [0.485, 0.456, 0.406],
            "image_std": [0.229, 0.224, 0.225],
            "processor_class": "XCLIPProcessor",
            "resample": 2,
            "size": 224,
        },
    )


def model_config(size: str, vocab_size: int) -> XCLIPConfig:
    """The X-CLIP architecture for ``size``: "tiny" for tests, "base" for timing.

    "tiny" keeps what the application depends on (224 px, patch 32 so 49 patch tokens, 8 frames,
    the MIT and the two-layer prompt generator, 77 text positions) and shrinks every width so a
    forward over 4 clips x 8 frames takes well under a second on two cores. The MIT width must
    equal ``projection_dim`` because it runs on projected frame embeddings.
    "base" is ``XCLIPConfig()``'s default, which is the ``xclip-base-patch32`` architecture,
    including its 49,408-entry token table (unused rows beyond our small tokenizer), so the
    weights file has the real model's size.
    """
    if size == "base":
        return XCLIPConfig()
    if size != "tiny":
        raise ValueError(f"unknown checkpoint size {size!r}: expected 'tiny' or 'base'")
    width = 64
    text_config = {
        "vocab_size": vocab_size,
        "hidden_size": width,
        "intermediate_size": 2 * width,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "max_position_embeddings": MAX_TEXT_TOKENS,
    }
    vision_config = {
        "hidden_size": width,
        "intermediate_size": 2 * width,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": 224,
        "patch_size": 32,
        "num_frames": 8,
        "mit_hidden_size": width,
        "mit_intermediate_size": 2 * width,
        "mit_num_hidden_layers": 1,
        "mit_num_attention_heads": 2,
    }
    return XCLIPConfig(
        text_config=text_config,
        vision_config=vision_config,
        projection_dim=width,
        prompt_layers=2,
        prompt_num_attention_heads=2,
    )


def build_checkpoint(folder: Path, *, size: str = "tiny") -> Path:
    """Write a complete X-CLIP checkpoint folder with random weights and return its path.

    The folder loads with ``XCLIPModel``, ``AutoTokenizer``, ``AutoProcessor`` and
    ``XCLIPProcessor`` ``.from_pretrained(folder)``, like the real checkpoint. Weights are drawn
    from a fixed seed, so building twice gives identical files. ``size`` is "tiny" (tests) or
    "base" (the full-size architecture, for timing).
    """
    folder = Path(folder)
    vocab_size = write_tokenizer(folder)
    write_preprocessor_config(folder)
    config = model_config(size, vocab_size)
    # A private generator state, so building a checkpoint neither depends on nor disturbs the
    # caller's random stream.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = XCLIPModel(config)
    model.eval()
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def _write_json(path: Path, payload: object) -> None:
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def retrained_copy(folder: Path, target: Path) -> Path:
    """A copy of the checkpoint at ``folder`` with the same config and files but other weights
    (one tensor nudged), as a fine-tuned checkpoint would be; returns ``target``."""
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(folder, target)
    weights = target / "model.safetensors"
    tensors = load_file(weights)
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + 0.01
    save_file(tensors, weights, metadata={"format": "pt"})
    return target
