"""Video-text retrieval: official-format JSON datasets with single / paragraph / multi-caption modes
(:mod:`.dataset`), their transforms (:mod:`.transforms`), the pure metric :func:`retrieval_metrics` and the
``RetrievalMetric`` evaluator (:mod:`.metric`), and the evaluation loops that embed, compute ITC similarities and
re-rank the top k with the ITM head in batches across ranks (:mod:`.loops`). The model is
``backbones.UMTStage2``."""
from .dataset import CAPTION_MODES, RetrievalDataset, ToyRetrievalDataset, video_hash
from .loops import (RetrievalTestLoop, RetrievalValLoop, embed_texts, embed_videos, evaluate_retrieval,
                    rerank_per_query, rerank_topk)
from .metric import METRIC_KEYS, RetrievalMetric, retrieval_metrics, target_ranks
from .samplers import ModalityBatchSampler
from .transforms import LoadImageAsClip, PackRetrievalInputs

__all__ = ['CAPTION_MODES', 'RetrievalDataset', 'ToyRetrievalDataset', 'video_hash', 'RetrievalValLoop',
           'RetrievalTestLoop', 'embed_texts', 'embed_videos', 'evaluate_retrieval', 'rerank_per_query', 'rerank_topk',
           'METRIC_KEYS', 'RetrievalMetric', 'retrieval_metrics', 'target_ranks', 'LoadImageAsClip',
           'PackRetrievalInputs', 'ModalityBatchSampler']
