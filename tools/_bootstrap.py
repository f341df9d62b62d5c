"""Shared start-up for the command-line tools: make the checkout importable without installing it and
apply VideoFM's fixes for the OpenMMLab stack before anything else imports it."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import backbones  # noqa: E402,F401  (backbones.compat.apply() runs on import)
