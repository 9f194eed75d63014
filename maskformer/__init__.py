"""maskformer: MaskFormer and Mask2Former for semantic, instance and panoptic segmentation."""

__version__ = "0.1.0"
