from typing import Optional, Sequence, Union

import torch
from mmaction.models.heads.base import BaseHead
from timm.layers import trunc_normal_
from torch import nn

from backbones.checkpoint import load_label_map
from backbones.registry import MODELS


@MODELS.register_module()
class VideoClsHead(BaseHead):
    """Classification head of the official VideoMAE V2 / UMT fine-tuning: (pool) -> dropout -> linear.

    Accepts the backbone's pooled embedding (B, C) (mean pooling and ``fc_norm`` already applied by
    :class:`~backbones.VideoViT` with ``out_type='pooled'``), tokens (B, N, C) or a feature map
    (B, C, T, H, W), which are mean-pooled first.

    Args:
        num_classes (int): Number of classes.
        in_channels (int): Width of the input features.
        dropout (float): Dropout before the classifier (official ``head_drop_rate``).
        init_scale (float): The classifier is initialised with trunc_normal(std=.02) and then scaled by this
            value (official ``init_scale`` 0.001).
        label_map (str | Sequence[int], optional): Evaluate (or fine-tune) a head trained on a larger label
            set on a subset, e.g. a Kinetics-710 head on Kinetics-400: JSON file or list whose entry ``i`` is
            the classifier row of target class ``i`` (official ``label_710to400.json``). The classifier then
            keeps ``num_source_classes`` rows (so the 710-row checkpoint loads as it is) and the head outputs
            the ``num_classes == len(label_map)`` selected logits, which is what the loss and the metrics see.
        num_source_classes (int, optional): Rows of the classifier; required with ``label_map``.
        **kwargs: ``loss_cls``, ``label_smooth_eps``, ``average_clips``, ``topk`` ... of mmaction2's BaseHead.
    """

    def __init__(self, num_classes: int, in_channels: int, dropout: float = 0., init_scale: float = 1e-3,
                 label_map: Optional[Union[str, Sequence[int]]] = None, num_source_classes: Optional[int] = None,
                 **kwargs):
        kwargs.setdefault('loss_cls', dict(type='CrossEntropyLoss'))
        kwargs.setdefault('average_clips', 'prob')
        super().__init__(num_classes, in_channels, **kwargs)
        self.init_scale = init_scale
        self.dropout = nn.Dropout(dropout)
        if label_map is None:
            if num_source_classes not in (None, num_classes):
                raise ValueError(f'num_source_classes={num_source_classes} differs from num_classes={num_classes} '
                                 'but no label_map says which rows to use')
            self.label_index = None
            self.fc_cls = nn.Linear(in_channels, num_classes)
        else:
            if num_source_classes is None:
                raise ValueError('VideoClsHead: label_map needs num_source_classes (rows of the trained head, '
                                 'e.g. 710)')
            index = load_label_map(label_map, num_source_classes)
            if len(index) != num_classes:
                raise ValueError(f'VideoClsHead: label_map has {len(index)} entries but num_classes={num_classes}')
            self.fc_cls = nn.Linear(in_channels, num_source_classes)
            # Not persistent: the state dict stays that of the source head (710 rows), loadable as it is.
            self.register_buffer('label_index', torch.as_tensor(index, dtype=torch.long), persistent=False)

    def init_weights(self) -> None:
        trunc_normal_(self.fc_cls.weight, std=.02)
        nn.init.zeros_(self.fc_cls.bias)
        with torch.no_grad():
            self.fc_cls.weight.mul_(self.init_scale)

    def forward(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """Features -> class scores (B, num_classes)."""
        if x.dim() == 3:  # tokens (B, N, C)
            x = x.mean(1)
        elif x.dim() == 5:  # feature map (B, C, T, H, W)
            x = x.flatten(2).mean(-1)
        elif x.dim() != 2:
            raise ValueError(f'VideoClsHead expects (B, C), (B, N, C) or (B, C, T, H, W), got {tuple(x.shape)}')
        scores = self.fc_cls(self.dropout(x))  # (B, num_source_classes)
        if self.label_index is not None:
            scores = scores.index_select(-1, self.label_index)  # (B, num_classes)
        return scores

    def loss_by_feat(self, cls_scores: torch.Tensor, data_samples) -> dict:
        # Scores leave autocast regions in bf16/fp16; the loss and mmaction2's numpy accuracy need fp32.
        return super().loss_by_feat(cls_scores.float(), data_samples)

    def predict_by_feat(self, cls_scores: torch.Tensor, data_samples):
        return super().predict_by_feat(cls_scores.float(), data_samples)
