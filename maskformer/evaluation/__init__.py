"""Evaluation: evaluators (semantic, panoptic, instance, Cityscapes) and inference over a dataset."""
