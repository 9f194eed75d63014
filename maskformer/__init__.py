"""maskformer: MaskFormer and Mask2Former for semantic, instance and panoptic segmentation."""

import warnings

__version__ = "0.1.0"

# fvcore.nn (parameter and FLOP counts, precise BN) scripts a focal loss with torch.jit.script when
# it is imported, which torch >= 2.10 answers with a FutureWarning on every command. It is imported
# here once, quietly, so that no module of the package prints it.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
    import fvcore.nn  # noqa: F401
