"""Which torch device and dtype a model runs in, from the user's "auto" / explicit choices."""

from __future__ import annotations

from pathlib import Path

import torch

from thresher.errors import OptionError

DEVICE_CHOICES = ("auto", "cpu", "cuda")
DTYPE_CHOICES = ("auto", "float32", "bfloat16")

# CPU flags that make bf16 matmuls faster than fp32 (AVX512-BF16 dot products, AMX tiles).
_CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def resolve_device(device: str) -> torch.device:
    """The torch device for `device` ("auto": CUDA when available, else CPU).

    Raises:
        OptionError: `device` is not one of "auto", "cpu", "cuda", or CUDA was asked for but is unavailable.
    """
    if device not in DEVICE_CHOICES:
        raise OptionError(f"device must be one of {', '.join(DEVICE_CHOICES)}, got '{device}'")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise OptionError("device 'cuda' was asked for but no CUDA device is available")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """The torch dtype for `dtype` on `device` ("auto": bf16 where the hardware runs it fast, else fp32).

    Raises:
        OptionError: `dtype` is not one of "auto", "float32", "bfloat16".
    """
    if dtype not in DTYPE_CHOICES:
        raise OptionError(f"dtype must be one of {', '.join(DTYPE_CHOICES)}, got '{dtype}'")
    if dtype == "float32":
        return torch.float32
    if dtype == "bfloat16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return torch.bfloat16 if cpu_has_fast_bf16() else torch.float32


def cpu_has_fast_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU advertises native bf16 instructions (x86 `avx512_bf16` or `amx_bf16` flags)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return not _CPU_BF16_FLAGS.isdisjoint(line.split(":", 1)[-1].split())
    return False
