"""AVA spatio-temporal action detector on torchvision ops and MMEngine alone (no mmdet, no mmcv ops)."""
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from torch import nn
from torchvision.ops import roi_align

from backbones.registry import MODELS
from .boxes import assign_labels, boxes_to_original

__all__ = ['AVADetector']


@MODELS.register_module()
class AVADetector(BaseModel):
    """Person boxes in, multi-label action scores out.

    ``clip (B, 3, T, H, W) -> backbone featmap (B, C, T', H', W') -> mean over T' -> RoIAlign on the keyframe
    boxes (K, C, s, s) -> max (or avg) over s x s -> dropout -> Linear(C, num_classes) -> sigmoid``.

    Temporal pooling comes first: RoIAlign is linear in the features and the keyframe box is used at every
    time step, so ``mean_t RoIAlign(F_t) == RoIAlign(mean_t F_t)`` exactly; pooling first is T' times cheaper
    (this is UMT's "RoIAlign on time-averaged features" and equals mmaction2's RoIAlign-per-time + avg pool).

    Training: candidates are ground truth + proposals; a candidate whose best IoU with a ground-truth box is
    >= ``pos_iou_thr`` takes that box's labels, the others are dropped (see :func:`assign_labels` for why this
    is mmaction2's behaviour), at most ``max_rois`` per clip. Loss: binary cross-entropy with logits over
    classes ``1..num_classes-1`` (column 0 is unused, as in mmaction2's 81-way AVA head), mean over RoIs and
    classes.

    Testing: every proposal gets sigmoid scores; scores below ``action_thr`` are set to 0 (never reported).
    Boxes are mapped back through flip / crop / rescale to normalised coordinates of the original frame.

    Args:
        backbone (dict): Backbone config; must return a (B, C, T', H', W') feature map (VideoViT with
            ``out_type='featmap'``).
        num_classes (int): Score columns; AVA: 81 (action id = column).
        in_channels (int, optional): C; default ``backbone.embed_dim``.
        roi_size (int): RoIAlign output size s.
        spatial_pool (str): ``'max'`` or ``'avg'`` over the s x s RoI grid.
        dropout (float): Dropout before the classifier.
        pos_iou_thr (float): IoU for a positive training RoI.
        max_rois (int, optional): Positives kept per clip in training.
        action_thr (float): Test scores below it are zeroed.
        data_preprocessor (dict, optional): E.g. ``ActionDataPreprocessor``.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(self, backbone: dict, num_classes: int = 81, in_channels: Optional[int] = None, roi_size: int = 8,
                 spatial_pool: str = 'max', dropout: float = 0.5, pos_iou_thr: float = 0.9,
                 max_rois: Optional[int] = 32, action_thr: float = 0.002, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if spatial_pool not in ('max', 'avg'):
            raise ValueError(f"spatial_pool must be 'max' or 'avg', got {spatial_pool!r}")
        if num_classes < 2:
            raise ValueError(f'num_classes must be >= 2 (column 0 is unused), got {num_classes}')
        if not 0. < pos_iou_thr <= 1.:
            raise ValueError(f'pos_iou_thr must be in (0, 1], got {pos_iou_thr}')
        self.backbone = MODELS.build(backbone)
        if getattr(self.backbone, 'out_type', 'featmap') != 'featmap':
            raise ValueError("the AVA detector needs a feature map: set backbone out_type='featmap'")
        in_channels = in_channels or getattr(self.backbone, 'embed_dim', None)
        if in_channels is None:
            raise ValueError('in_channels is required for a backbone without embed_dim')
        self.num_classes = num_classes
        self.roi_size = roi_size
        self.spatial_pool = spatial_pool
        self.pos_iou_thr = pos_iou_thr
        self.max_rois = max_rois
        self.action_thr = action_thr
        self.dropout = nn.Dropout(dropout)
        self.fc_cls = nn.Linear(in_channels, num_classes)
        nn.init.normal_(self.fc_cls.weight, std=0.01)
        nn.init.zeros_(self.fc_cls.bias)

    # ---------------------------------------------------------------------------------------- pieces
    def extract_feat(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) -> time-pooled feature map (B, C, H', W').

        H and W are zero-padded at the bottom / right up to multiples of the patch size (AVA frames keep their
        aspect ratio at test time, e.g. 224 x 398); boxes are unaffected by bottom-right padding.
        """
        patch = getattr(self.backbone, 'patch_size', 1)
        pad_h, pad_w = -inputs.shape[-2] % patch, -inputs.shape[-1] % patch
        if pad_h or pad_w:
            inputs = F.pad(inputs, (0, pad_w, 0, pad_h))
        return self.backbone(inputs).mean(2)

    def _spatial_scale(self, feat: torch.Tensor, inputs: torch.Tensor) -> float:
        patch = getattr(self.backbone, 'patch_size', None)
        return 1. / patch if patch else feat.shape[-1] / inputs.shape[-1]

    def roi_logits(self, feat: torch.Tensor, rois: List[torch.Tensor], spatial_scale: float) -> torch.Tensor:
        """RoI features -> logits.

        Args:
            feat (Tensor): (B, C, H', W').
            rois (list[Tensor]): per clip (K_b, 4) boxes in input pixels.
            spatial_scale (float): feature cells per input pixel.

        Returns:
            Tensor: (sum K_b, num_classes) logits.
        """
        rois = [r.to(feat.dtype) for r in rois]
        x = roi_align(feat, rois, output_size=self.roi_size, spatial_scale=spatial_scale, sampling_ratio=0,
                      aligned=True)  # (K, C, s, s)
        x = x.amax((2, 3)) if self.spatial_pool == 'max' else x.mean((2, 3))
        return self.fc_cls(self.dropout(x))

    # --------------------------------------------------------------------------------------- forward
    def forward(self, inputs: torch.Tensor, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_feat(inputs)
        raise RuntimeError(f'invalid mode {mode!r}; use loss, predict or tensor')

    def loss(self, inputs: torch.Tensor, data_samples) -> Dict[str, torch.Tensor]:
        feat = self.extract_feat(inputs)
        rois, targets = [], []
        for ds in data_samples:
            gt = ds.gt_instances
            props = ds.proposals.bboxes if 'proposals' in ds else None
            r, t = assign_labels(props, gt.bboxes.to(feat.device).float(), gt.labels.to(feat.device),
                                 self.pos_iou_thr, max_rois=self.max_rois)
            rois.append(r)
            targets.append(t)
        targets = torch.cat(targets)
        if targets.shape[0] == 0:  # no person in the batch: keep every parameter in the graph
            return dict(loss_action=feat.sum() * 0. + self.fc_cls.weight.sum() * 0.)
        logits = self.roi_logits(feat, rois, self._spatial_scale(feat, inputs))
        loss = F.binary_cross_entropy_with_logits(logits[:, 1:].float(), targets[:, 1:].float())
        return dict(loss_action=loss)

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor, data_samples):
        feat = self.extract_feat(inputs)
        rois = []
        for ds in data_samples:
            if 'proposals' in ds and ds.proposals.bboxes.numel():
                rois.append(ds.proposals.bboxes.to(feat.device).float().reshape(-1, 4))
            else:  # mmaction2's dataset default: the whole frame
                h, w = ds.metainfo['img_shape']
                rois.append(feat.new_tensor([[0., 0., w, h]]))
        scores = self.roi_logits(feat, rois, self._spatial_scale(feat, inputs)).float().sigmoid()
        scores[:, 0] = 0.
        scores[scores < self.action_thr] = 0.
        for ds, r, s in zip(data_samples, rois, scores.split([len(r) for r in rois])):
            meta = ds.metainfo
            boxes = boxes_to_original(r.cpu(), meta['img_shape'], meta.get('crop_quadruple'),
                                      bool(meta.get('flip', False)))
            ds.pred_instances = InstanceData(bboxes=boxes, scores=s.cpu())
        return data_samples
