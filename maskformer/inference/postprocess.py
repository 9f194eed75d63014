"""Resizing network outputs back to the original image size (Detectron2's semantics)."""

from __future__ import annotations

import torch

from ..utils.hugepages import empty_for_writing

__all__ = ["resize_bilinear", "sem_seg_postprocess", "sigmoid_is_shareable", "upsample_masks"]

# torch's vectorised elementwise kernels compute blocks of (2 x SIMD width) elements alike and the
# remainder of a contiguous run one by one, with other maths (the sigmoid's exp differs in ~4% of
# the values); 64 floats covers AVX-512. A multi-threaded op splits its elements into one run per
# thread once they exceed the grain size.
_VECTOR_BLOCK = 64
_GRAIN_SIZE = 32768


def sem_seg_postprocess(
    result: torch.Tensor, img_size: tuple[int, int], output_height: int, output_width: int
) -> torch.Tensor:
    """Crops the padding off a per-pixel output and resizes it to the requested size.

    The network sees the image resized (by the test transform) to ``img_size`` and padded to the
    batch's size divisibility; ``result`` is at that padded resolution. The valid region
    ``[:h, :w]`` is kept and bilinearly resized (``align_corners=False``) to
    ``(output_height, output_width)``, usually the original image size.

    Args:
        result: ``[C, H, W]`` scores or logits (e.g. semantic ``[K, H, W]`` or masks ``[Q, H, W]``),
            at the padded input resolution.
        img_size: ``(h, w)`` of the image inside the padding, ``h <= H``, ``w <= W``.
        output_height: height of the output.
        output_width: width of the output.

    Returns:
        ``[C, output_height, output_width]``, same dtype as ``result``.
    """
    height, width = int(img_size[0]), int(img_size[1])
    if height > result.shape[-2] or width > result.shape[-1]:
        raise ValueError(
            f"img_size {(height, width)} is larger than the prediction {tuple(result.shape[-2:])}: "
            "upsample the predictions to the padded input size before calling sem_seg_postprocess."
        )
    cropped = result[:, :height, :width]  # [C, h, w]
    if (height, width) == (output_height, output_width):
        # torch's bilinear resize to the same size weighs each value by 1 and its copy by 0: the
        # values themselves (for finite inputs), so the copy is skipped.
        return cropped.contiguous()
    return resize_bilinear(cropped, (output_height, output_width))


def resize_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``F.interpolate(x[None], size, mode="bilinear", align_corners=False)[0]``, the same values.

    The kernel writes straight into memory from :func:`empty_for_writing`: the resized logits of
    every query are the largest tensor of the post-processing.

    Args:
        x: ``[C, h, w]``.
        size: ``(H, W)`` of the result.

    Returns:
        ``[C, H, W]``, same dtype as ``x``.
    """
    out = empty_for_writing((1, x.shape[0], *size), x.dtype, x.device)
    torch.ops.aten.upsample_bilinear2d.out(x[None], list(size), False, None, None, out=out)
    return out[0]


def upsample_masks(
    masks: torch.Tensor, padded_size: tuple[int, int], img_size: tuple[int, int], output_size: tuple[int, int]
) -> torch.Tensor:
    """Mask logits at the output size by the official two resizes (each query independently).

    Bilinear to the padded input size, then :func:`sem_seg_postprocess` (crop to ``img_size`` and
    bilinear to ``output_size``). Each output channel depends on its own input channel only, so
    upsampling a subset of the queries gives exactly their rows of the full result.

    Args:
        masks: ``[R, h, w]`` mask logits at the network's output stride.
        padded_size: ``(H, W)`` of the padded network input.
        img_size: ``(h, w)`` of the image inside the padding.
        output_size: ``(height, width)`` of the result, usually the original image size.

    Returns:
        ``[R, height, width]`` logits.
    """
    return sem_seg_postprocess(resize_bilinear(masks, tuple(padded_size)), img_size, *output_size)


def sigmoid_is_shareable(row_numel: int) -> bool:
    """Whether ``x.sigmoid()[rows]`` equals ``x[rows].sigmoid()`` bit for bit, for any ``rows``.

    ``x`` is a contiguous ``[R, row_numel]`` tensor. True when every element is computed by the
    vectorised kernel whatever the row subset: rows a multiple of the vector block long, and,
    with several threads, split into per-thread runs that stay multiples of it. Otherwise the
    elements at the end of a run use the scalar code, and panoptic and instance inference compute
    the sigmoid of their own rows, as the official code does.
    """
    threads = torch.get_num_threads()
    if threads == 1:
        return row_numel % _VECTOR_BLOCK == 0
    # Every [R >= 1, row_numel] tensor then has >= threads runs of equal, block-multiple length.
    return row_numel % (_VECTOR_BLOCK * threads) == 0 and row_numel >= threads * _GRAIN_SIZE
