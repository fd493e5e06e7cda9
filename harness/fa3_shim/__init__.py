"""FA3 shim for smoke runs: a directory that provides `flash_attn_interface` on top of torch SDPA.

`harness reproduce --fa3-shim` prepends `shim_dir()` to the trainer's PYTHONPATH
so `from flash_attn_interface import flash_attn_func, flash_attn_varlen_func`
resolves to `harness/fa3_shim/flash_attn_interface.py`. Nothing here imports
torch; the shim module itself does, inside the trainer.
"""

from __future__ import annotations

from pathlib import Path

SHIM_REASON = ("FlashAttention 3 was replaced by pgolf-harness's SDPA/FlexAttention shim "
               "(flash_attn_interface from harness/fa3_shim): other kernels and numerics, "
               "so scores and timings are not comparable with FA3 runs")


def shim_dir() -> Path:
    """The directory to prepend to the trainer's PYTHONPATH (it holds flash_attn_interface.py)."""
    return Path(__file__).resolve().parent


__all__ = ["SHIM_REASON", "shim_dir"]
