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
}


def get_preset(name: str) -> dict:
    """Keyword arguments of a named size; raises KeyError listing the valid names."""
    if name not in PRESETS:
        raise KeyError(f'unknown VideoViT arch {name!r}; choose one of {sorted(PRESETS)} or pass the sizes')
    return dict(PRESETS[name])
