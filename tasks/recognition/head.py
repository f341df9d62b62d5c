import torch
from mmaction.models.heads.base import BaseHead
from timm.layers import trunc_normal_
from torch import nn

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
        **kwargs: ``loss_cls``, ``label_smooth_eps``, ``average_clips``, ``topk`` ... of mmaction2's BaseHead.
    """

    def __init__(self, num_classes: int, in_channels: int, dropout: float = 0., init_scale: float = 1e-3,
                 **kwargs):
        kwargs.setdefault('loss_cls', dict(type='CrossEntropyLoss'))
        kwargs.setdefault('average_clips', 'prob')
        super().__init__(num_classes, in_channels, **kwargs)
        self.init_scale = init_scale
        self.dropout = nn.Dropout(dropout)
        self.fc_cls = nn.Linear(in_channels, num_classes)

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
        return self.fc_cls(self.dropout(x))

    def loss_by_feat(self, cls_scores: torch.Tensor, data_samples) -> dict:
        # Scores leave autocast regions in bf16/fp16; the loss and mmaction2's numpy accuracy need fp32.
        return super().loss_by_feat(cls_scores.float(), data_samples)

    def predict_by_feat(self, cls_scores: torch.Tensor, data_samples):
        return super().predict_by_feat(cls_scores.float(), data_samples)
