"""The device a fit runs on: `auto` is CUDA when torch sees a GPU, else CPU."""

from __future__ import annotations


def resolve_device(device: str) -> str:
    """`auto` means CUDA when torch sees a GPU, else CPU."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device {device!r} is not allowed; allowed: auto, cpu, cuda")
    if device == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise RuntimeError("device 'cuda' was asked for but torch sees no CUDA device")
    return "cpu"


def device_name(device: str) -> str:
    if device == "cuda":
        import torch

        return torch.cuda.get_device_name(0)
    import platform

    return platform.processor() or platform.machine()
