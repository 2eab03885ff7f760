"""DSDC Studio's model package: the depthwise-separable dilated network, data, training, checkpoints.

Plain PyTorch (no Qt): usable from scripts, the command line (``python -m model``) and the GUI alike.
"""
from .checkpoint import CheckpointError, load_checkpoint, load_pretrained, save_checkpoint
from .data import DataError
from .network import DSDCNet, NetConfig

__all__ = ["DSDCNet", "NetConfig", "load_pretrained", "load_checkpoint", "save_checkpoint", "CheckpointError",
           "DataError"]
