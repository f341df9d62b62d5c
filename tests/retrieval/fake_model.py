"""A tiny stand-in with the stage-2 model's evaluation interface (tokenize / encode_vision / encode_text /
itm_logits), for testing the retrieval loops without BERT. It counts the (text, video) pairs it scores."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel


class FakeStage2(BaseModel):
    """Video tokens: 2x2-pooled pixels per frame through a linear layer; text tokens: embedded word ids; ITM: a
    linear layer on the product of the mean video token and the first text token."""

    def __init__(self, dim: int = 8, seed: int = 0):
        super().__init__(data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5] * 3, std=[64.] * 3,
                                                format_shape='NCTHW'))
        g = torch.Generator().manual_seed(seed)
        self.vis = nn.Linear(3, dim)
        self.txt = nn.Embedding(101, dim)
        self.itm = nn.Linear(dim, 2)
        for p in self.parameters():
            p.data = torch.randn(p.shape, generator=g)
        self.pairs_scored = 0

    def tokenize(self, texts):
        ids = [[1 + sum(map(ord, w)) % 100 for w in t.split()] for t in texts]
        length = max(len(x) for x in ids)
        mask = torch.tensor([[1] * len(x) + [0] * (length - len(x)) for x in ids])
        ids = torch.tensor([x + [0] * (length - len(x)) for x in ids])
        return ids, mask

    def encode_vision(self, video, masked=False, keep_temporal=False):
        x = F.adaptive_avg_pool3d(video, (video.shape[2], 2, 2)).flatten(2).transpose(1, 2)  # [B, T*4, 3]
        tok = self.vis(x)
        if keep_temporal:  # per-frame features [B, T, D]
            return tok, F.normalize(tok.view(len(tok), video.shape[2], 4, -1).mean(2), dim=-1)
        return tok, F.normalize(tok.mean(1), dim=-1)

    def encode_text(self, input_ids, attention_mask):
        tok = self.txt(input_ids)
        m = attention_mask[..., None].float()
        return tok, F.normalize((tok * m).sum(1) / m.sum(1), dim=-1)

    def itm_logits(self, vision_tokens, text_tokens, attention_mask):
        assert len(vision_tokens) == len(text_tokens) == len(attention_mask)
        self.pairs_scored += len(vision_tokens)
        return self.itm(vision_tokens.mean(1) * text_tokens[:, 0])

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.encode_vision(inputs)
