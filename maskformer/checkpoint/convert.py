"""Map parameter names of foreign checkpoints onto our model's (Detectron2 / official) names.

Supported sources, detected from the names alone:

- ``detectron2``: our names = the official MaskFormer / Mask2Former names (identity), also
  backbone-only files that lack the ``backbone.`` prefix (Detectron2 ``R-50.pkl`` converted from
  torchvision, ``R-103.pkl``, Swin files converted by the official script).
- ``msra``: Caffe2 / MSRA ImageNet pickles (``conv1_w``, ``res_conv1_bn_s``,
  ``res2_0_branch2a_w``, ``res2_0_branch1_bn_b`` ...). Their batch norms are affine-only, so the
  frozen-BN running statistics are filled with mean 0 / variance 1.
- ``torchvision_resnet``: torchvision and timm ResNets (``conv1``, ``bn1``,
  ``layer1.0.downsample.0`` ...).
- ``swin_official``: the Swin authors' checkpoints (``swin_*_patch4_window*_*.pth``).
- ``timm_swin``: timm 1.0 Swin (patch merging at the start of stage i+1 instead of the end of
  stage i; ``layers_0`` in ``features_only`` models; classifier ``head.fc``).
- ``hf_mask2former``: HF transformers ``Mask2FormerForUniversalSegmentation`` state dicts
  (converted by ``maskformer.checkpoint.hf``, which fuses HF's separate q/k/v projections).
- ``hf_maskformer``: HF transformers ``MaskFormerForInstanceSegmentation`` state dicts (FPN pixel
  decoder + DETR decoder; converted by ``maskformer.checkpoint.hf``).

After renaming, each name is placed in the model by exact match, then with a ``backbone.``
prefix, then by a unique dotted-suffix match (Detectron2's matching heuristic). Classifier heads
and buffers the model derives itself are dropped; everything else that does not fit is reported.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import torch
from torch import nn

logger = logging.getLogger(__name__)

__all__ = [
    "AlignmentReport",
    "align_state_dict",
    "align_state_dict_with_report",
    "convert_to_detectron2_names",
    "detect_format",
    "is_ignorable_name",
]

# Buffers our modules compute at construction; a checkpoint need not provide them.
_DERIVED_BUFFER = re.compile(r"(relative_position_index|attn_mask|num_batches_tracked|empty_weight)$")
# ImageNet classifiers, final Swin norm and the official criterion's class-weight buffer.
_DROPPED_SOURCE = re.compile(r"^(stem\.)?fc\.|^fc1000[._]|^head(\.|$)|^norm\.|^criterion\.")


@dataclass
class AlignmentReport:
    """What happened to every name while aligning a checkpoint with a model.

    Attributes:
        source_format: the detected format (see the module docstring).
        loaded: model names that received a tensor.
        missing: model names the checkpoint did not provide (derived buffers excluded).
        unexpected: source names with no place in the model.
        mismatched: ``(source name, model name, source shape, model shape)`` for names that fit
            a model name but not its shape (not loaded).
        dropped: source names ignored on purpose (classifier heads, derived buffers).
    """

    source_format: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    @property
    def is_complete(self) -> bool:
        """True when nothing is missing, unexpected or shape-mismatched."""
        return not (self.missing or self.unexpected or self.mismatched)

    def format(self) -> str:
        """A human-readable multi-line summary (names grouped by module)."""
        lines = [f"Checkpoint format '{self.source_format}': loaded {len(self.loaded)} tensors."]
        for title, names in (
            ("Missing in the checkpoint (left at their initial values)", self.missing),
            ("Unexpected in the checkpoint (ignored)", self.unexpected),
            ("Dropped on purpose (classifier heads, derived buffers)", self.dropped),
        ):
            if names:
                lines.append(f"{title}: {len(names)}")
                lines.extend("  " + group for group in group_names(names))
        if self.mismatched:
            lines.append(f"Shape mismatch (not loaded): {len(self.mismatched)}")
            lines.extend(
                f"  {src} -> {dst}: {tuple(a)} vs model {tuple(b)}" for src, dst, a, b in self.mismatched
            )
        return "\n".join(lines)


def is_ignorable_name(name: str) -> bool:
    """True for converted names no model of ours loads: classifier heads and derived buffers."""
    return bool(_DROPPED_SOURCE.search(name) or _DERIVED_BUFFER.search(name))


def group_names(names: list[str]) -> list[str]:
    """Group dotted names by parent module: ``["a.weight", "a.bias"]`` -> ``["a.{bias, weight}"]``."""
    groups: dict[str, list[str]] = {}
    for name in names:
        parent, _, leaf = name.rpartition(".")
        groups.setdefault(parent, []).append(leaf)
    out = []
    for parent, leaves in groups.items():
        leaf = leaves[0] if len(leaves) == 1 else "{" + ", ".join(sorted(leaves)) + "}"
        out.append(f"{parent}.{leaf}" if parent else leaf)
    return out


def detect_format(names: list[str]) -> str:
    """Guess the naming scheme of a state dict from its keys (see the module docstring)."""
    keys = set(names)
    if "model.transformer_module.queries_features.weight" in keys:
        return "hf_mask2former"
    if any(k.startswith("model.pixel_level_module.decoder.fpn.") for k in keys):
        return "hf_maskformer"
    if any(k.startswith(("backbone.", "sem_seg_head.")) for k in keys):
        return "detectron2"
    if "conv1_w" in keys or any(re.match(r"res\d_\d+_branch", k) for k in keys):
        return "msra"
    if "conv1.weight" in keys and any(k.startswith("layer1.") for k in keys):
        return "torchvision_resnet"
    if any(k.startswith("patch_embed.") for k in keys):
        official = any(k.startswith("layers.0.downsample.") for k in keys) and "head.fc.weight" not in keys
        return "swin_official" if official else "timm_swin"
    return "detectron2"


# Detectron2's c2 naming: branch1 = projection shortcut, branch2a/b/c = the bottleneck convs.
_MSRA_BRANCHES = {"branch1": "shortcut", "branch2a": "conv1", "branch2b": "conv2", "branch2c": "conv3"}


def _rename_msra(name: str) -> str:
    """Caffe2 names: ``res2_0_branch2a_bn_s`` -> ``res2.0.conv1.norm.weight`` (Detectron2's rules)."""
    name = name.replace("_bn_s", "_bn.weight").replace("_bn_b", "_bn.bias")
    name = name.replace("_bn_rm", "_bn.running_mean").replace("_bn_riv", "_bn.running_var")
    name = re.sub(r"_w$", ".weight", name)
    name = re.sub(r"_b$", ".bias", name)
    name = name.replace("_bn.", ".norm.")
    name = re.sub(r"^res_conv1\.", "conv1.", name)
    name = re.sub(r"^conv1\.", "stem.conv1.", name)
    name = re.sub(r"^res(\d)_(\d+)_", r"res\1.\2.", name)
    for branch, ours in _MSRA_BRANCHES.items():
        name = name.replace(f".{branch}.", f".{ours}.")
    return name


def _rename_torchvision_resnet(name: str) -> str:
    """``layer1.0.bn2.weight`` -> ``res2.0.conv2.norm.weight``; the stem's ``bn1`` -> ``stem.conv1.norm``."""
    name = re.sub(r"^layer(\d)\.", lambda m: f"res{int(m.group(1)) + 1}.", name)
    if not name.startswith("res"):
        name = "stem." + name
    name = re.sub(r"\.bn(\d)\.", r".conv\1.norm.", name)
    name = name.replace(".downsample.0.", ".shortcut.").replace(".downsample.1.", ".shortcut.norm.")
    return name


def _rename_timm_swin(name: str) -> str:
    """timm: ``layers_1.downsample`` / ``layers.1.downsample`` -> official ``layers.0.downsample``."""
    name = re.sub(r"^layers_(\d+)\.", r"layers.\1.", name)
    return re.sub(
        r"^layers\.(\d+)\.downsample\.", lambda m: f"layers.{int(m.group(1)) - 1}.downsample.", name
    )


_RENAMERS = {
    "detectron2": lambda name: name,
    "swin_official": lambda name: name,
    "msra": _rename_msra,
    "torchvision_resnet": _rename_torchvision_resnet,
    "timm_swin": _rename_timm_swin,
}

# Whole-model HF formats: converted by maskformer.checkpoint.hf (imported on use).
_HF_CONVERTERS = {
    "hf_mask2former": "convert_hf_mask2former_state_dict",
    "hf_maskformer": "convert_hf_maskformer_state_dict",
}


def _renamed_items(state_dict: dict[str, torch.Tensor], fmt: str) -> list[tuple[str, str, torch.Tensor]]:
    """``(source name, Detectron2 name, tensor)`` per entry, plus MSRA's identity BN statistics."""
    if fmt in _HF_CONVERTERS:
        from . import hf

        return [(k, k, v) for k, v in getattr(hf, _HF_CONVERTERS[fmt])(state_dict).items()]
    if fmt not in _RENAMERS:
        raise ValueError(
            f"Unknown checkpoint format '{fmt}'. Known: {sorted([*_RENAMERS, *_HF_CONVERTERS])}."
        )
    items = [(k, _RENAMERS[fmt](k), torch.as_tensor(v)) for k, v in state_dict.items()]
    if fmt == "msra":
        # Caffe2's AffineChannel has scale and bias only: identity statistics make FrozenBN equal it.
        names = {new for _, new, _ in items}
        for _, new, value in list(items):
            if new.endswith(".norm.weight"):
                prefix = new[: -len("weight")]
                for stat, fill in (("running_mean", torch.zeros_like), ("running_var", torch.ones_like)):
                    if prefix + stat not in names:
                        items.append((prefix + stat, prefix + stat, fill(value)))
    return items


def convert_to_detectron2_names(
    state_dict: dict[str, torch.Tensor], source_format: str | None = None
) -> tuple[dict[str, torch.Tensor], str]:
    """Rename a state dict to Detectron2 / official names, without looking at a model.

    Backbone-only sources keep names relative to the backbone (``stem.conv1.weight``,
    ``layers.0.blocks.0.attn.qkv.weight``); the caller adds ``backbone.`` if it needs a full-model
    file. MSRA batch norms get running mean 0 / variance 1.

    Args:
        state_dict: name -> tensor.
        source_format: one of ``detect_format``'s answers; detected when None.

    Returns:
        ``(renamed state dict, source format)``.
    """
    fmt = source_format or detect_format(list(state_dict))
    return {new: value for _, new, value in _renamed_items(state_dict, fmt)}, fmt


class _NameResolver:
    """Finds the model name for a converted source name: exact, ``backbone.`` + name, unique suffix."""

    def __init__(self, model_names: list[str]) -> None:
        self._names = set(model_names)
        self._by_suffix: dict[str, list[str]] = {}
        for name in model_names:
            parts = name.split(".")
            for i in range(1, len(parts)):
                self._by_suffix.setdefault(".".join(parts[i:]), []).append(name)

    def resolve(self, name: str) -> str | None:
        if name in self._names:
            return name
        if "backbone." + name in self._names:
            return "backbone." + name
        candidates = self._by_suffix.get(name, [])
        return candidates[0] if len(candidates) == 1 else None


def align_state_dict_with_report(
    state_dict: dict[str, torch.Tensor], model: nn.Module, source_format: str | None = None
) -> tuple[dict[str, torch.Tensor], AlignmentReport]:
    """Rename a checkpoint's tensors to the model's names and report what fits.

    Args:
        state_dict: name -> tensor in any supported format (see the module docstring).
        model: the model that will load the result.
        source_format: one of ``detect_format``'s answers; detected when None.

    Returns:
        ``(aligned, report)``: ``aligned`` maps model names to tensors of the model's shapes (ready
        for ``model.load_state_dict(aligned, strict=False)``); ``report`` lists missing,
        unexpected, mismatched and dropped names.
    """
    fmt = source_format or detect_format(list(state_dict))
    target = model.state_dict()
    resolver = _NameResolver(list(target))
    report = AlignmentReport(source_format=fmt)
    aligned: dict[str, torch.Tensor] = {}
    for source, name, value in _renamed_items(state_dict, fmt):
        # Exact names always load; classifier heads are dropped before the looser matching so
        # that e.g. a final "norm.weight" never lands on some unique "*.norm.weight" of the model.
        if name not in target and is_ignorable_name(name):
            report.dropped.append(source)
            continue
        dest = resolver.resolve(name)
        if dest is None:
            report.unexpected.append(source)
        elif tuple(value.shape) != tuple(target[dest].shape):
            report.mismatched.append((source, dest, tuple(value.shape), tuple(target[dest].shape)))
        elif dest in aligned:
            report.unexpected.append(source)
        else:
            aligned[dest] = value
    report.loaded = sorted(aligned)
    mismatched_dest = {dest for _, dest, _, _ in report.mismatched}
    report.missing = [
        k for k in target if k not in aligned and k not in mismatched_dest and not _DERIVED_BUFFER.search(k)
    ]
    return aligned, report


def align_state_dict(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename a checkpoint's tensors to the model's names; log the missing/unexpected report.

    See ``align_state_dict_with_report`` for the arguments; use it to get the report as an object.
    """
    aligned, report = align_state_dict_with_report(state_dict, model)
    logger.info(report.format())
    return aligned
