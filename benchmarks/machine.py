"""The machine a benchmark ran on, in words (CPU model and cores, or the GPU, with versions)."""

import os
import platform

import torch


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(device: torch.device = torch.device("cpu")) -> str:
    """E.g. `Intel Xeon ..., 2 cores, Python 3.11.7, torch 2.11.0` (the GPU's name first on CUDA)."""
    host = f"{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}"
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda}); host {host}"
    return host
