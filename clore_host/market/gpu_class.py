"""A server's GPU class: its GPU model and how many, from `specs.gpu` or `gpu_array`.

Model names compare after normalising case, spacing and an optional leading "NVIDIA" (the seed
writes "1x GeForce GTX 1080 Ti" in one place and "1x NVIDIA GeForce GTX 1080 Ti" in another);
otherwise exactly: "RTX 4090" is not "RTX 4090 D", "RTX A4000" is not "RTX 4000 Ada". No
substring matching, ever: that is how another autopricer priced 4090s against 4090 Ds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_GPUS = 1024  # per server; a larger count is not a server's
# "2x NVIDIA GeForce RTX 4090", "2 x RTX 4090", "2X ..."
_SPEC = re.compile(r"\s*(\d{1,4})\s*[xX]\s+(\S.*)", re.DOTALL)
_PREFIX = "nvidia "


@dataclass(frozen=True)
class GpuClass:
    """`count` GPUs of one `model` (normalised: see normalise_model); `shown`: the model as
    the source wrote it, for people."""

    model: str
    count: int
    shown: str = field(compare=False)

    def __str__(self) -> str:
        return f"{self.count}x {self.shown}"


def normalise_model(name: str) -> str:
    """`name` compared as a model: case folded, runs of white space as one space, without a
    leading "NVIDIA"."""
    text = " ".join(name.split()).casefold()
    return text[len(_PREFIX) :] if text.startswith(_PREFIX) else text


def parse_spec(text: str) -> GpuClass | None:
    """The class in a `specs.gpu` text such as "2x NVIDIA GeForce RTX 4090"; None when it is
    not "<count>x <model>" with a count of 1 to MAX_GPUS."""
    match = _SPEC.fullmatch(text)
    if match is None:
        return None
    count, shown = int(match.group(1)), " ".join(match.group(2).split())
    model = normalise_model(shown)
    if not 1 <= count <= MAX_GPUS or not model:
        return None
    return GpuClass(model, count, shown)


def from_names(names: Sequence[str]) -> GpuClass | None:
    """The class of GPUs named one by one (`gpu_array`, NVML): None when there are none, more
    than MAX_GPUS, a blank one, or more than one model (a mixed server has no peers)."""
    if not 1 <= len(names) <= MAX_GPUS:
        return None
    models = {normalise_model(name) for name in names}
    if len(models) != 1 or "" in models:
        return None
    return GpuClass(models.pop(), len(names), " ".join(names[0].split()))


def listing_class(gpu: str | None, gpu_array: Sequence[str] | None) -> GpuClass | None:
    """A listing's class: from gpu_array where the service sends it, else from specs.gpu."""
    if gpu_array is not None:
        return from_names(gpu_array)
    return parse_spec(gpu) if gpu is not None else None


def server_class(specs: object, gpu_array: object) -> GpuClass | str:
    """This server's class from server_config's `specs.gpu` and `gpu_array`, or why it is
    not known (a short phrase)."""
    if gpu_array is not None:
        names = _names(gpu_array)
        if names is None:
            return "server_config gpu_array is not a list of GPU names"
        found = from_names(names)
        return found if found is not None else "server_config gpu_array names no single model"
    gpu = specs.get("gpu") if isinstance(specs, dict) else None
    if not isinstance(gpu, str):
        return "server_config has no specs.gpu"
    found = parse_spec(gpu)
    if found is None:
        return f"server_config specs.gpu {gpu[:60]!r} is not '<count>x <model>'"
    return found


def _names(value: object) -> list[str] | None:
    """A list of names, nested lists flattened (as the live service sometimes nests them)."""
    if not isinstance(value, list):
        return None
    out: list[str] = []
    for item in value:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, list):
            inner = _names(item)
            if inner is None:
                return None
            out.extend(inner)
        else:
            return None
    return out


def cross_check(cls: GpuClass, gpu_names: Sequence[str]) -> str | None:
    """Why the GPUs the driver lists (`gpu_names`, NVML) disagree with `cls`, or None when
    they agree or none were read."""
    if not gpu_names:
        return None
    seen = from_names(gpu_names)
    if seen is not None and seen.model == cls.model and seen.count == cls.count:
        return None
    listed = ", ".join(dict.fromkeys(" ".join(n.split()) for n in gpu_names))
    return (
        f"the server's class is {cls} (server_config), but the driver lists "
        f"{len(gpu_names)} GPU(s): {listed}"
    )
