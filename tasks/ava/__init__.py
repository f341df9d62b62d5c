"""AVA spatio-temporal action detection: detector on torchvision RoIAlign, official-semantics frame mAP,
toy AVA data. Real AVA data goes through mmaction2's ``AVADataset`` and transforms unchanged."""
from .boxes import assign_labels, boxes_from_original, boxes_to_original
from .dataset import CheckedAVADataset, ToyAVADataset, validate_ava_csv
from .detector import AVADetector
from .metric import AVAFrameMAP, evaluate_files, frame_map

__all__ = ['AVADetector', 'AVAFrameMAP', 'CheckedAVADataset', 'ToyAVADataset', 'validate_ava_csv', 'assign_labels',
           'boxes_from_original', 'boxes_to_original', 'evaluate_files', 'frame_map']
