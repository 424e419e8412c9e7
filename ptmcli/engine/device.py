"""Validate --device and --dtype before any weights are loaded."""

import logging

from ptmcli.errors import UsageError
from ptmcli.i18n import _, ngettext

log = logging.getLogger("ptmcli")

DTYPE_NAMES = ("auto", "float32", "bfloat16", "float16")


def resolve_device(spec: str) -> str:
    """Map auto|cpu|cuda|cuda:N|mps to a torch device string that exists on this machine."""
    import torch

    if spec == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if spec == "cpu":
        return spec
    if spec == "mps":
        if not torch.backends.mps.is_available():
            raise UsageError(_("device 'mps' is not available on this machine"), hint=_("use --device cpu"))
        return spec
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UsageError(
                _("device '{device}' requested but CUDA is not available").format(device=spec),
                hint=_("use --device cpu, or install a CUDA build of torch on a machine with an NVIDIA GPU"),
            )
        index = spec.partition(":")[2]
        if index:
            if not index.isdigit() or int(index) >= torch.cuda.device_count():
                raise UsageError(
                    ngettext("device '{device}' does not exist: this machine has {count} CUDA device",
                             "device '{device}' does not exist: this machine has {count} CUDA devices",
                             torch.cuda.device_count()).format(
                        device=spec, count=torch.cuda.device_count()
                    )
                )
        return spec
    raise UsageError(
        _("invalid device '{device}'").format(device=spec),
        hint=_("use auto, cpu, cuda, cuda:N or mps"),
    )


def resolve_dtype(spec: str, device: str):
    """Map a dtype name to a torch dtype; auto means float32 on the CPU and the checkpoint's own elsewhere."""
    import torch

    if spec not in DTYPE_NAMES:
        raise UsageError(
            _("invalid dtype '{dtype}'").format(dtype=spec),
            hint=_("use one of: {names}").format(names=", ".join(DTYPE_NAMES)),
        )
    if spec == "auto":
        return torch.float32 if device == "cpu" else "auto"
    if spec == "bfloat16" and device.startswith("cuda") and not torch.cuda.is_bf16_supported():
        raise UsageError(_("this GPU does not support bfloat16"), hint=_("use --dtype float16 or float32"))
    if spec == "float16" and device == "cpu":
        log.warning(_("float16 on the CPU is slow and fails on older torch versions; float32 is the safe choice"))
    return getattr(torch, spec)
