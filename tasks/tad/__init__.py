"""Temporal action detection (THUMOS14, ActivityNet-1.3 style): the feature grid <-> seconds conversion
(:mod:`.grid`), ActivityNet-semantics detection mAP and the ``TADmAP`` metric (:mod:`.metric`), vectorised
Soft-NMS (:mod:`.nms`), ActivityNet's video-classifier fusion (:mod:`.postprocess`), the ActionFormer-style
detector on ``[B, C, T]`` features (:mod:`.detector`), the feature datasets (:mod:`.dataset`: THUMOS14,
ActivityNet-1.3, toy) and their transforms (:mod:`.transforms`)."""
from .dataset import ActivityNet13Dataset, TADFeatureDataset, THUMOS14Dataset, ToyTADDataset
from .detector import ActionFormer, diou_loss_1d
from .end_to_end import EndToEndTAD
from .frames import (DecodeTADFrames, PackTADFrames, TADVideoDataset, THUMOS14VideoDataset,
                     ToyTADVideoDataset)
from .grid import FeatureGrid
from .metric import (ANET_TIOUS, THUMOS14_TIOUS, TADmAP, detection_map, evaluate_files, read_ground_truth,
                     read_predictions, write_predictions)
from .nms import batched_nms_1d, hard_nms, segment_voting, soft_nms
from .postprocess import VideoClassifierScores, fuse_video_classes
from .transforms import PackTADInputs, RandomTruncateFeatures

__all__ = ['ActionFormer', 'FeatureGrid', 'TADmAP', 'detection_map', 'evaluate_files', 'read_ground_truth',
           'read_predictions', 'write_predictions', 'THUMOS14_TIOUS', 'ANET_TIOUS', 'batched_nms_1d', 'hard_nms',
           'segment_voting', 'soft_nms', 'diou_loss_1d', 'VideoClassifierScores', 'fuse_video_classes',
           'TADFeatureDataset', 'THUMOS14Dataset', 'ActivityNet13Dataset', 'ToyTADDataset', 'PackTADInputs',
           'RandomTruncateFeatures', 'EndToEndTAD', 'TADVideoDataset', 'THUMOS14VideoDataset', 'ToyTADVideoDataset',
           'DecodeTADFrames', 'PackTADFrames']
