import pytest
import torch

from maskformer.structures import ImageList, Instances, masks_to_boxes


def test_image_list_pads_to_divisibility_and_keeps_sizes():
    a = torch.ones(3, 5, 7)
    b = torch.ones(3, 9, 4) * 2
    batch = ImageList.from_tensors([a, b], size_divisibility=8, pad_value=-1.0)
    assert batch.tensor.shape == (2, 3, 16, 8)
    assert batch.image_sizes == [(5, 7), (9, 4)]
    assert torch.equal(batch[0], a) and torch.equal(batch[1], b)
    assert (batch.tensor[0, :, 5:, :] == -1).all() and (batch.tensor[1, :, :, 4:] == -1).all()


def test_image_list_without_divisibility():
    batch = ImageList.from_tensors([torch.zeros(1, 3, 3)], size_divisibility=0)
    assert batch.tensor.shape == (1, 1, 3, 3)


def test_instances_fields_indexing_and_length_check():
    inst = Instances((4, 5), gt_classes=torch.tensor([1, 2, 3]))
    inst.gt_masks = torch.zeros(3, 4, 5, dtype=torch.bool)
    assert len(inst) == 3 and inst.image_size == (4, 5)
    sub = inst[torch.tensor([True, False, True])]
    assert sub.gt_classes.tolist() == [1, 3] and sub.gt_masks.shape == (2, 4, 5)
    assert inst[1].gt_classes.tolist() == [2]
    with pytest.raises(ValueError, match="length"):
        inst.scores = torch.zeros(2)
    with pytest.raises(AttributeError, match="pred_boxes"):
        _ = inst.pred_boxes


def test_masks_to_boxes_exact_and_empty():
    masks = torch.zeros(3, 6, 8, dtype=torch.bool)
    masks[0, 2, 3] = True
    masks[1, 1:4, 2:7] = True
    boxes = masks_to_boxes(masks)
    assert boxes.tolist() == [[3, 2, 4, 3], [2, 1, 7, 4], [0, 0, 0, 0]]
    assert masks_to_boxes(torch.zeros(0, 4, 4)).shape == (0, 4)
