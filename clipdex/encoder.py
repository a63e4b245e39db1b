"""The X-CLIP encoder: the one module that imports transformers.

It loads any X-CLIP checkpoint through ``from_pretrained`` (a hub id or a local folder) and
offers what the indexer and search need: video embeddings plus re-rank features for batches of
preprocessed clips, unconditioned text embeddings, and the prompt-conditioned re-rank score.
The arithmetic mirrors ``XCLIPModel.forward`` so that the re-ranked score equals the model's own
``logits_per_video / logit_scale`` (tests/clipdex/test_parity.py proves it).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipdex.model_errors import ModelLoadError
from clipdex.model_identity import looks_like_path, resolve_model_id
from clipdex.row_shares import RowShares
from indexer.cpus import default_threads

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "microsoft/xclip-base-patch32"
QUANTIZE_CHOICES = (None, "int8")
QUERY_THREADS = 1
# float16 is kept only where the first batch's embeddings and features all stay this close
# (cosine) to float32's: well inside what the int8 option already accepts (about 0.99).
HALF_TOLERANCE = 0.999
# The towers whose Linear layers dynamic int8 replaces. The prompt generator stays float32:
# the folded re-rank reads its weights directly and costs little.
_INT8_TOWERS = ("vision_model", "mit", "text_model")


@dataclass(frozen=True)
class PreprocessSpec:
    """What the checkpoint's processor does to a frame, read from preprocessor_config.json."""

    shortest_edge: int = 224
    crop_size: int = 224
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    resample: int = 2  # PIL's filter for the resize (2: BILINEAR, the X-CLIP processors')


def _missing_model_message(model_id: str, reason: str) -> str:
    return (
        f"cannot load model {model_id!r}: {reason}. Download it once where the Hugging Face hub "
        f"is reachable (`hf download {DEFAULT_MODEL}` or `huggingface-cli download ...`), "
        "or pass --model /path/to/a/local/copy (CLIPDEX_MODEL works too)"
    )


def _read_preprocess_spec(model) -> PreprocessSpec:
    """Read shortest edge, crop and mean/std the way the checkpoint's image processor would."""
    folder = Path(model.name_or_path)
    path = folder / "preprocessor_config.json"
    if not path.is_file():
        try:
            from huggingface_hub import hf_hub_download

            path = Path(
                hf_hub_download(
                    model.name_or_path, "preprocessor_config.json", local_files_only=True
                )
            )
        except Exception:  # noqa: BLE001 - any failure means "use the checkpoint defaults"
            size = model.config.vision_config.image_size
            return PreprocessSpec(shortest_edge=size, crop_size=size)
    config = json.loads(path.read_text())
    size = config.get("size", 224)
    shortest = (
        size.get("shortest_edge", size.get("height", 224)) if isinstance(size, dict) else size
    )
    crop = config.get("crop_size", shortest)
    crop = crop.get("height", shortest) if isinstance(crop, dict) else crop
    return PreprocessSpec(
        shortest_edge=int(shortest),
        crop_size=int(crop),
        mean=tuple(config.get("image_mean", PreprocessSpec.mean)),
        std=tuple(config.get("image_std", PreprocessSpec.std)),
        resample=int(config.get("resample", PreprocessSpec.resample)),
    )


class XClipEncoder:
    """An X-CLIP checkpoint loaded for inference.

    ``encode_clips`` takes clips already preprocessed to ``(B, T, 3, H, W)`` float32 and returns
    the L2-normalised video embeddings ``(B, D)`` and the re-rank features ``(B, P, D)``
    (``img_features`` in ``XCLIPModel.forward``: frame-averaged, projected patch tokens).
    """

    def __init__(
        self,
        model_id: str,
        *,
        threads: int | None = None,
        quantize: str | None = None,
        device: str = "cpu",
        half: bool | None = None,
    ) -> None:
        """``device``: ``auto``, ``cpu``, ``cuda[:N]`` or ``mps`` (clipdex/device.py);
        ``half``: run the video tower in float16 (None: on CUDA only), kept only if its first
        batch agrees with float32 within HALF_TOLERANCE."""
        import torch

        from clipdex.device import DeviceError, device_kind, resolve_device

        self.model_id = resolve_model_id(model_id)
        self.device = resolve_device(device)
        threads = threads or default_threads()
        torch.set_num_threads(threads)
        # A re-rank on the CPU scores shares of its candidates side by side (one per thread).
        self._shares = RowShares(threads if device_kind(self.device) == "cpu" else 1)
        self._torch = torch
        if quantize not in QUANTIZE_CHOICES:
            raise ValueError(
                f"unknown quantization {quantize!r}: expected one of {QUANTIZE_CHOICES}"
            )
        if quantize and device_kind(self.device) != "cpu":
            raise DeviceError(f"--quantize {quantize} runs on the CPU only, not {self.device}")
        self._model, self._tokenizer = _load(self.model_id)
        self.quantize = quantize
        if quantize == "int8":
            _quantize_towers(self._model)
        self._model.to(self.device)
        self.half = device_kind(self.device) == "cuda" if half is None else half
        self._half_checked = False
        config = self._model.config
        self.frames_per_clip: int = int(config.vision_config.num_frames)
        self.image_size: int = int(config.vision_config.image_size)
        self.embed_dim: int = int(config.projection_dim)
        patches = self.image_size // int(config.vision_config.patch_size)
        self.feature_tokens: int = patches * patches
        self.preprocess: PreprocessSpec = _read_preprocess_spec(self._model)

    def encode_clips(
        self, pixels: np.ndarray, *, threads: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Video embeddings (normalised) and re-rank features for ``(B, T, 3, H, W)`` pixels.

        ``threads`` runs this call on that many threads (the indexer leaves a core to the
        decoder while it works); by default, the encoder's own count.
        """
        torch = self._torch
        with torch.inference_mode(), _threads(torch, threads):
            values = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))
            values = values.to(self.device)
            if self.half and not self._half_checked:
                return self._check_half(values)
            return self._video_tower(values, half=self.half)

    def _video_tower(self, values, *, half: bool) -> tuple[np.ndarray, np.ndarray]:
        torch = self._torch
        model = self._model
        kind = self.device.partition(":")[0]
        # autocast keeps the numerically touchy ops (layer norms, softmax) in float32.
        with torch.autocast(kind, dtype=torch.float16, enabled=half):
            batch, frames = values.shape[:2]
            vision = model.vision_model(pixel_values=values.flatten(0, 1))
            cls = model.visual_projection(vision.pooler_output).view(batch, frames, -1)
            video = model.mit(cls).pooler_output
            tokens = model.prompts_visual_layernorm(vision.last_hidden_state[:, 1:, :])
            tokens = tokens @ model.prompts_visual_projection
            features = tokens.view(batch, frames, -1, video.shape[-1]).mean(dim=1)
        video = video.float()
        video = video / video.norm(p=2, dim=-1, keepdim=True)
        return (
            video.cpu().numpy().astype(np.float32),
            features.float().cpu().numpy().astype(np.float32),
        )

    def _check_half(self, values) -> tuple[np.ndarray, np.ndarray]:
        """Run the first batch both ways; keep float16 only if it agrees with float32."""
        exact = self._video_tower(values, half=False)
        fast = self._video_tower(values, half=True)
        agreement = half_agreement(exact, fast)
        self.half = agreement >= HALF_TOLERANCE
        self._half_checked = True
        logger.info(
            "float16 on %s: lowest cosine with float32 %.5f, %s",
            self.device,
            agreement,
            "kept" if self.half else f"below {HALF_TOLERANCE}: staying with float32",
        )
        return fast if self.half else exact

    def encode_text(self, text: str) -> np.ndarray:
        """The unconditioned text embedding ``(D,)`` (projected, not normalised)."""
        torch = self._torch
        inputs = self._tokenizer([text], padding=True, truncation=True, return_tensors="pt")
        with torch.inference_mode(), _query_threads(torch):
            mask = inputs.get("attention_mask")
            embedding = text_features(
                self._model,
                inputs["input_ids"].to(self.device),
                None if mask is None else mask.to(self.device),
            )
        return embedding[0].cpu().numpy().astype(np.float32)

    def rerank(
        self, text_embedding: np.ndarray, features: np.ndarray, video_embeddings: np.ndarray
    ) -> np.ndarray:
        """Cosine of each clip's video embedding with the text conditioned on that clip.

        ``text + prompts_generator(text, img_features)`` as in ``XCLIPModel.forward``; the
        result equals ``logits_per_video / logit_scale`` for each (clip, query). The prompt
        generator is evaluated with its key and value projections folded into the query
        (see ``_folded_prompts``), which is exact up to float rounding and about 20x cheaper.
        On the CPU, shares of the candidates are scored side by side (``RowShares``), each on
        one thread.
        """
        torch = self._torch
        if len(features) == 0:
            return np.zeros(0, dtype=np.float32)

        def tensor(array: np.ndarray):
            # torch widens float16 (the stored features) about 6x faster than numpy's astype
            # (1.1 against 7.4 ms for 100 full-size clips): convert after wrapping, not before.
            array = np.ascontiguousarray(array)
            if not array.flags.writeable:  # torch.from_numpy warns on read-only memory
                array = array.copy()
            return torch.from_numpy(array).to(self.device, torch.float32)

        text = tensor(text_embedding)

        def scores(features: np.ndarray, video_embeddings: np.ndarray) -> np.ndarray:
            with torch.inference_mode():  # per thread: a share may run on a worker thread
                found = rerank_scores(
                    self._model.prompts_generator,
                    text,
                    tensor(features),
                    tensor(video_embeddings),
                )
            return found.cpu().numpy().astype(np.float32)

        with _query_threads(torch):
            return self._shares.run(scores, features, video_embeddings)

    def rerank_shares(self, candidates: int) -> int:
        """How many shares a re-rank of ``candidates`` clips is scored in, side by side."""
        return self._shares.shares(candidates)

    @property
    def model(self):
        """The underlying ``XCLIPModel`` (tests and benchmarks compare against its forward)."""
        return self._model

    @property
    def tokenizer(self):
        """The checkpoint's transformers tokenizer (the query export saves its fast tokenizer)."""
        return self._tokenizer


def half_agreement(
    exact: tuple[np.ndarray, np.ndarray], fast: tuple[np.ndarray, np.ndarray]
) -> float:
    """The lowest cosine between the float32 and float16 results of one batch: each clip's
    embedding, and each clip's re-rank features taken as one vector."""

    def lowest(a: np.ndarray, b: np.ndarray) -> float:
        a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
        norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        return float(np.min((a * b).sum(axis=1) / np.maximum(norms, 1e-12)))

    return min(lowest(exact[0], fast[0]), lowest(exact[1], fast[1]))


def text_features(model, input_ids, attention_mask):
    """``model.get_text_features`` as a ``(B, D)`` tensor, whichever form transformers returns
    (what ``encode_text`` runs, and what ``clipdex.query_export`` traces)."""
    import torch

    out = model.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def rerank_scores(generator, text, feats, video):
    """The re-rank of ``XClipEncoder.rerank`` on tensors: ``text`` (D,), ``feats`` (B, P, D),
    ``video`` (B, D) -> (B,) (what ``rerank`` runs, and what ``clipdex.query_export`` traces)."""
    text = text.view(1, -1)  # one row: the first layer's query is the same for all clips
    conditioned = text + _folded_prompts(generator, text, feats)
    conditioned = conditioned / conditioned.norm(p=2, dim=-1, keepdim=True)
    video = video / video.norm(p=2, dim=-1, keepdim=True)
    return (conditioned * video).sum(dim=-1)


@contextmanager
def _threads(torch, count: int | None) -> Iterator[None]:
    """Run the block on ``count`` threads (None: unchanged)."""
    previous = torch.get_num_threads()
    if count is None or count == previous:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def _query_threads(torch) -> Iterator[None]:
    """Run per-query work (one text, a few hundred re-rank candidates) on one thread.

    These are small matrix products: a second OpenMP thread costs more to wake and join than it
    saves, pathologically so on a busy 2-core machine (text tower p50 65 ms on one thread,
    1.4 s on two, measured while other jobs ran). Indexing keeps every thread.
    """
    with _threads(torch, QUERY_THREADS):
        yield


def _folded_prompts(generator, text, feats):
    """``XCLIPPromptGenerator.forward(text, feats)`` for one query token per clip, folded.

    Each cross-attention layer would project every clip's P visual tokens to keys and values
    (2 * P * D * D multiply-adds per clip), though it only ever needs one query's view of them.
    Both projections are linear, so per head h: ``q_h . (W_k,h v) = (W_k,h^T q_h) . v`` and
    ``sum_p a_p W_v,h v_p = W_v,h (sum_p a_p v_p)``. The visual layer norm is affine per token
    too, so it is folded the same way (only each token's mean and deviation are computed) rather
    than materialising a normalised copy of the features. Scoring raw tokens with the folded
    query and projecting the attention-weighted mix once costs O(D * D + H * P * D) per clip
    instead of O(P * D * D). ``text`` is (B, D) or (1, D) (one text for every clip),
    ``feats`` (B, P, D); returns (B, D).
    """
    import torch

    norm = generator.layernorm
    # Per-token mean and variance from a sum and a norm: torch.var_mean is several times
    # slower on CPU for this shape, and the features' mean is small beside their spread, so
    # E[x^2] - E[x]^2 loses nothing that matters here.
    dim = feats.shape[-1]
    mean = feats.sum(dim=-1) / dim  # (B, P)
    var = torch.linalg.vector_norm(feats, dim=-1).square() / dim - mean.square()
    inv_sigma = torch.rsqrt(var.clamp_min(0) + norm.eps)
    hidden = text
    for layer in generator.decoder:
        attn = layer.cross_attn
        heads, head_dim = attn.num_heads, attn.head_dim
        dim = heads * head_dim
        query = attn.q_proj(layer.norm1(hidden)).view(-1, heads, head_dim)  # (B or 1, H, d)
        w_k = attn.k_proj.weight.view(heads, head_dim, dim)  # W_k's rows, grouped by head
        w_v = attn.v_proj.weight.view(heads, head_dim, dim)
        # Folded query, scaled by the norm's gain: scores against raw tokens. Before the first
        # layer every clip has the same text, so that query is folded once for all of them.
        folded = torch.bmm(query.transpose(0, 1), w_k).transpose(0, 1) * norm.weight
        raw = torch.matmul(folded, feats.transpose(1, 2))  # (B, H, P)
        # LN(v) = g * (v - mean) / sigma + b; the b term is the same for every token, and
        # softmax ignores a per-row constant.
        logits = (raw - mean[:, None, :] * folded.sum(-1, keepdim=True)) * inv_sigma[:, None, :]
        weights = torch.softmax(logits * attn.scale, dim=-1)
        scaled = weights * inv_sigma[:, None, :]  # a_p / sigma_p
        mixed = torch.bmm(scaled, feats) - (scaled * mean[:, None, :]).sum(-1, keepdim=True)
        mixed = mixed * norm.weight + norm.bias  # = sum_p a_p LN(v_p), as weights sum to 1
        values = torch.bmm(mixed.transpose(0, 1), w_v.transpose(1, 2)).transpose(0, 1)
        hidden = hidden + attn.proj(values.reshape(-1, dim))
        hidden = hidden + layer.mlp(layer.norm3(hidden))
    return generator.alpha * hidden


def _quantize_towers(model) -> None:
    """Dynamic int8 on the Linear layers of the video and text towers, in place.

    About 1.5x faster on AVX2 CPUs; embeddings stay within cosine ~0.99 of float32 (measured
    by benchmarks/index.py on the full-size architecture).
    """
    import warnings

    import torch
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():
        # torch.ao.quantization is deprecated in favour of torchao, which is not installed;
        # the eager dynamic path still works and is what this CPU benefits from.
        warnings.simplefilter("ignore")
        for name in _INT8_TOWERS:
            tower = getattr(model, name)
            quantize_dynamic(tower, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


def _load(model_id: str):
    """Load model and tokenizer, turning every failure into one ModelLoadError line."""
    from transformers import AutoConfig, AutoTokenizer, XCLIPModel
    from transformers.utils import logging as hf_logging

    if not logger.isEnabledFor(logging.DEBUG):
        hf_logging.disable_progress_bar()  # "Loading weights" bars would garble our output
        # Both libraries reset their loggers' levels when imported (after the CLI configured
        # logging), and huggingface_hub logs every retry against an unreachable hub: our one
        # ModelLoadError line says all of it.
        hf_logging.set_verbosity_error()
        from huggingface_hub.utils import logging as hub_logging

        hub_logging.set_verbosity_error()

    if looks_like_path(model_id) and not Path(model_id).is_dir():
        raise ModelLoadError(_missing_model_message(model_id, "no such folder"))
    try:
        config = AutoConfig.from_pretrained(model_id)
    except OSError as exc:
        reason = "it is not in the local Hugging Face cache and the hub cannot be reached"
        if Path(model_id).is_dir():
            reason = "the folder holds no config.json of a Hugging Face model"
        logger.debug("config load failed: %s", exc)
        raise ModelLoadError(_missing_model_message(model_id, reason)) from exc
    except ValueError as exc:
        raise ModelLoadError(f"cannot load model {model_id!r}: {exc}") from exc
    if getattr(config, "model_type", None) != "xclip":
        raise ModelLoadError(
            f"cannot load model {model_id!r}: it is a {config.model_type!r} checkpoint, "
            "not X-CLIP (try --model microsoft/xclip-base-patch32)"
        )
    try:
        model = XCLIPModel.from_pretrained(model_id)
        tokenizer = AutoTokenizer.from_pretrained(model_id)
    except (OSError, ValueError) as exc:
        logger.debug("weights/tokenizer load failed: %s", exc)
        raise ModelLoadError(
            _missing_model_message(model_id, f"its weights or tokenizer could not be read ({exc})")
        ) from exc
    model.eval()
    return model, tokenizer
