"""Checkpoints: weights + architecture settings + training metadata, written atomically, loaded safely.

A checkpoint is untrusted input (it may come from anywhere), so it is loaded with
``torch.load(..., weights_only=True)``: only tensors and plain containers are unpickled, never code.
Writes go to a temporary file in the same folder, are flushed to disk, then renamed over the target,
so a crash mid-write leaves the previous file intact.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import torch

from .network import DSDCNet, NetConfig

__all__ = [
    "CheckpointError",
    "FORMAT",
    "save_checkpoint",
    "load_checkpoint",
    "load_pretrained",
    "pretrained_path",
    "pretrained_info",
    "atomic_write",
]

FORMAT = "dsdc-studio-checkpoint"
VERSION = 1
PRETRAINED_FILE = "dsdc_mnist.pt"
PRETRAINED_INFO = "dsdc_mnist.json"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, unsafe or does not fit; the message says which."""


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb"):
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    On any failure the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); give it the permissions a plain open() would have
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~umask)
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _plain(value):
    """Metadata as plain JSON-like values, so that weights-only loading accepts it (e.g. torch.__version__ is
    a str subclass that ``weights_only=True`` refuses)."""
    if isinstance(value, bool) or value is None:
        return value
    for base in (str, int, float):
        if isinstance(value, base):
            return base(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def save_checkpoint(path: str | os.PathLike, model: DSDCNet, meta: dict | None = None) -> Path:
    """Save ``model`` (weights, architecture, frozen blocks) and ``meta`` (plain values) to ``path``."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise CheckpointError(f"cannot save to {path}: it is a folder")
    if not path.parent.exists():
        raise CheckpointError(f"cannot save to {path}: folder {path.parent} does not exist")
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": model.config.to_dict(),
        "frozen": sorted(model.frozen),
        "state_dict": state,
        "meta": _plain(dict(meta or {}, saved_at=time.strftime("%Y-%m-%dT%H:%M:%S"))),
    }
    try:
        with atomic_write(path) as f:
            torch.save(payload, f)
    except OSError as e:
        raise CheckpointError(f"cannot save checkpoint to {path}: {e.strerror or e}") from None
    return path


def load_checkpoint(path: str | os.PathLike, num_classes: int | None = None) -> tuple[DSDCNet, dict]:
    """Rebuild the network saved in ``path``; returns (model in eval mode, metadata).

    ``num_classes``: when given, a checkpoint with another number of classes is refused.
    Raises ``CheckpointError`` with one clear sentence for every way a file can be wrong.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} is not a file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        # The weights-only unpickler names the class or function it refused ("unsupported GLOBAL ...");
        # anything else (bad opcodes, short reads, bad zip) is a damaged or foreign file.
        if "global" in str(e).lower():
            raise CheckpointError(
                f"refused to load {path.name}: it contains Python objects other than weights (it could run code "
                f"when opened), so it is not a safe checkpoint") from None
        raise CheckpointError(f"checkpoint {path.name} is corrupt or truncated, or not a PyTorch file "
                              f"({type(e).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "state_dict" not in payload:
        raise CheckpointError(f"{path.name} is not a DSDC Studio checkpoint")
    if payload.get("version", 0) > VERSION:
        raise CheckpointError(f"{path.name} was written by a newer DSDC Studio (format version "
                              f"{payload.get('version')}); upgrade to load it")
    try:
        config = NetConfig.from_dict(payload["config"])
        model = DSDCNet(config)
    except Exception as e:
        raise CheckpointError(f"{path.name} describes an architecture this version cannot build ({e})") from None
    if num_classes is not None and config.num_classes != num_classes:
        raise CheckpointError(f"{path.name} has {config.num_classes} classes but {num_classes} are needed")
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except (RuntimeError, KeyError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"the weights in {path.name} do not fit the architecture it describes ({first})") from None
    frozen = payload.get("frozen") or []
    if frozen:
        try:
            model.freeze(set(frozen))
        except ValueError as e:
            raise CheckpointError(f"{path.name} names unknown frozen blocks ({e})") from None
    model.eval()
    return model, dict(payload.get("meta") or {})


def pretrained_path() -> Path:
    """The shipped weights (a package resource, found in editable and regular installs alike)."""
    return Path(str(resources.files("resources") / PRETRAINED_FILE))


def pretrained_info() -> dict:
    """How the shipped weights were trained and what they scored (resources/dsdc_mnist.json)."""
    p = resources.files("resources") / PRETRAINED_INFO
    return json.loads(p.read_text()) if p.is_file() else {}


def load_pretrained() -> DSDCNet:
    """The ready network with the shipped MNIST weights, in eval mode."""
    model, _ = load_checkpoint(pretrained_path())
    return model
