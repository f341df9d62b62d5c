"""Encoder sizes, defined once. Values from the official VideoMAE V2 and UMT model definitions."""

# name -> VideoViT keyword arguments
PRESETS = {
    # VideoMAE V2 (tubelet 2, 16 frames at 224)
    'small': dict(embed_dim=384, depth=12, num_heads=6, mlp_ratio=4., patch_size=16, tubelet_size=2),
    'base': dict(embed_dim=768, depth=12, num_heads=12, mlp_ratio=4., patch_size=16, tubelet_size=2),
    'large': dict(embed_dim=1024, depth=24, num_heads=16, mlp_ratio=4., patch_size=16, tubelet_size=2),
    'huge': dict(embed_dim=1280, depth=32, num_heads=16, mlp_ratio=4., patch_size=16, tubelet_size=2),
    'giant': dict(embed_dim=1408, depth=40, num_heads=16, mlp_ratio=48 / 11, patch_size=14, tubelet_size=2),
    # Unmasked Teacher students (tubelet 1, 8 frames at 224). Their sinusoid belongs to the 8x14x14 pretraining
    # grid: at other clip lengths / sizes it is stretched from that grid (linear in time), as the official
    # fine-tuning does, not regenerated over the new number of tokens.
    'umt-base': dict(embed_dim=768, depth=12, num_heads=12, mlp_ratio=4., patch_size=16, tubelet_size=1,
                     num_frames=8, pos_ref_grid=(8, 14, 14)),
    'umt-large': dict(embed_dim=1024, depth=24, num_heads=16, mlp_ratio=4., patch_size=16, tubelet_size=1,
                      num_frames=8, pos_ref_grid=(8, 14, 14)),
    # UMT stage 2 (video-language) vision encoders: the same students at 4 frames. Stage 2 uses the 1-D sinusoid
    # over the clip's own tokens (official ``pos_embed`` over T*196 tokens; images, 1-frame clips, get its first
    # 196 rows = the official ``img_pos_embed``), so no reference grid.
    'umt2-base': dict(embed_dim=768, depth=12, num_heads=12, mlp_ratio=4., patch_size=16, tubelet_size=1,
                      num_frames=4),
    'umt2-large': dict(embed_dim=1024, depth=24, num_heads=16, mlp_ratio=4., patch_size=16, tubelet_size=1,
                       num_frames=4),
}

# UMT stage-2 text encoders (transformers BertConfig keyword arguments + ``fusion_layer``: the first layer with
# cross-attention to the vision tokens). bert-base: 9 text-only + 3 fusion layers; bert-large: 19 + 5.
TEXT_PRESETS = {
    'bert-base': dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                      intermediate_size=3072, max_position_embeddings=512, fusion_layer=9),
    'bert-large': dict(vocab_size=30522, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                       intermediate_size=4096, max_position_embeddings=512, fusion_layer=19),
}


def get_preset(name: str) -> dict:
    """Keyword arguments of a named size; raises KeyError listing the valid names."""
    if name not in PRESETS:
        raise KeyError(f'unknown VideoViT arch {name!r}; choose one of {sorted(PRESETS)} or pass the sizes')
    return dict(PRESETS[name])


def get_text_preset(name: str) -> dict:
    """BertConfig keyword arguments (+ ``fusion_layer``) of a named UMT stage-2 text encoder; raises KeyError
    listing the valid names."""
    if name not in TEXT_PRESETS:
        raise KeyError(f'unknown text arch {name!r}; choose one of {sorted(TEXT_PRESETS)} or pass the sizes')
    return dict(TEXT_PRESETS[name])
