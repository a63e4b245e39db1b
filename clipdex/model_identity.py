"""What a model is, whatever it is called: a digest of its config and its weights' bytes.

A library is bound to this digest, not to the name it was built with: a copied checkpoint
folder, or the hub id of a model and a local copy of it, are the same model; a fine-tuned
checkpoint with the same config is not. Hashing the weights reads the whole file (about 600 MB
for ``xclip-base-patch32``), so each file's SHA-256 is cached by its path and ``stat`` in a small
JSON file under the user's cache folder: one cache for every library on the machine, since they
share models, and nothing written into a library folder that may be read-only or shared.

This module imports neither torch nor transformers: a search pays a few ``stat`` calls. It
imports ``hashlib`` (which loads OpenSSL) and ``tempfile`` only where it hashes or writes: a
cold ``clipdex search`` resolves a model id but does neither.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

CONFIG_FILENAME = "config.json"
# What from_pretrained reads, in its order of preference: safetensors (one file or shards),
# else the pickled PyTorch weights.
WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")
# Fields transformers writes into config.json that say how it was saved, not what the model is.
_CONFIG_NOISE = ("_name_or_path", "_commit_hash", "transformers_version")
CACHE_FILENAME = "model-digests.json"
_CHUNK_BYTES = 1 << 20


def looks_like_path(model_id: str) -> bool:
    """Whether ``model_id`` names a local folder rather than a Hugging Face hub id."""
    return model_id.startswith(("/", "./", "../", "~")) or Path(model_id).expanduser().exists()


def resolve_model_id(model_id: str) -> str:
    """A local folder becomes its absolute path (so the library records it unambiguously)."""
    if looks_like_path(model_id):
        return str(Path(model_id).expanduser().resolve())
    return model_id


def default_cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "clipdex" / CACHE_FILENAME


def checkpoint_folder(model_id: str) -> Path | None:
    """The folder holding ``model_id``'s files on this machine: the folder itself, or the hub
    cache's snapshot of it; None when it is not here (not downloaded yet)."""
    if looks_like_path(model_id):
        folder = Path(model_id).expanduser()
        return folder if (folder / CONFIG_FILENAME).is_file() else None
    from huggingface_hub import try_to_load_from_cache

    try:
        config = try_to_load_from_cache(model_id, CONFIG_FILENAME)
    except ValueError:  # not a valid repo id
        return None
    return Path(config).parent if isinstance(config, str) else None


def weight_files(folder: Path) -> list[Path]:
    """The files from_pretrained would read the weights from, sorted by name."""
    for pattern in WEIGHT_PATTERNS:
        files = sorted(path for path in folder.glob(pattern) if path.is_file())
        if files:
            return files
    return []


class DigestCache:
    """SHA-256 of files, remembered by resolved path and checked against ``stat``.

    An entry is used only if size, mtime, ctime, inode and device are all unchanged: mtime can
    be set back by ``cp -p`` or ``touch -d``, ctime cannot, and replacing a file by renaming
    another over it changes the inode. Losing the file (unwritable folder, a concurrent writer
    winning the rename) only costs a re-hash later.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_cache_path()
        self._entries: dict[str, dict] | None = None
        self._dirty = False

    def digest(self, file: Path) -> str:
        """The SHA-256 (hex) of ``file``'s bytes, from the cache when the file is unchanged."""
        real = file.resolve()  # the hub cache's snapshots are links to shared blobs
        before = _stamp(real)
        entries = self._load()
        entry = entries.get(str(real))
        if entry is not None and entry.get("stat") == before:
            return entry["sha256"]
        logger.info("fingerprinting model weights %s (once per file)", real)
        digest = _sha256(real)
        if _stamp(real) == before:  # not written while we read it
            entries[str(real)] = {"stat": before, "sha256": digest}
            self._dirty = True
        return digest

    def save(self) -> None:
        """Write the cache if it changed, atomically, dropping entries of vanished files."""
        if not self._dirty or self._entries is None:
            return
        import tempfile

        entries = {path: e for path, e in self._entries.items() if Path(path).exists()}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                "w", dir=self.path.parent, prefix=f".{self.path.name}.", delete=False
            ) as handle:
                json.dump({"version": 1, "files": entries}, handle)
            os.replace(handle.name, self.path)
            self._dirty = False
        except OSError as exc:
            logger.debug("could not save the model digest cache %s: %s", self.path, exc)

    def _load(self) -> dict[str, dict]:
        if self._entries is None:
            try:
                data = json.loads(self.path.read_text())
                files = data.get("files") if data.get("version") == 1 else None
                self._entries = files if isinstance(files, dict) else {}
            except (OSError, ValueError, AttributeError):
                self._entries = {}
        return self._entries


def model_digest(model_id: str, cache: DigestCache | None = None) -> str | None:
    """The identity of ``model_id``: SHA-256 over its config (without the fields that only say
    how it was saved) and the digest of each weight file. None when the model's files are not
    on this machine (a hub id not downloaded yet) or hold no weights."""
    folder = checkpoint_folder(model_id)
    if folder is None:
        return None
    files = weight_files(folder)
    if not files:
        return None
    try:
        config = json.loads((folder / CONFIG_FILENAME).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(config, dict):
        for key in _CONFIG_NOISE:
            config.pop(key, None)
    import hashlib

    cache = cache or DigestCache()
    whole = hashlib.sha256(b"clipdex model v1\n")
    whole.update(json.dumps(config, sort_keys=True, separators=(",", ":")).encode())
    for file in files:
        whole.update(f"\n{file.name}\0{cache.digest(file)}".encode())
    cache.save()
    return whole.hexdigest()


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
