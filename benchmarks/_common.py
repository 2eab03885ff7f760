"""Shared bits of the benchmarks: the machine line and result printing."""
from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def machine() -> str:
    import torch
    return (f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads")


def data_dir(cli: str | None) -> str:
    from model.data import resolve_data_dir
    return str(resolve_data_dir(cli or os.environ.get("DSDC_DATA") or
                                str(Path(__file__).resolve().parents[2] / "shared" / "data")))


def percentile(values, q: float) -> float:
    import numpy as np
    return float(np.percentile(np.asarray(values, float), q)) if len(values) else float("nan")


def emit(**figures) -> None:
    """The last lines: one name=value per figure."""
    for k, v in figures.items():
        print(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
