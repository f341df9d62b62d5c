"""Demo output (issue 13, item 6): recognize.py's progress counts the frames that decode, not the container's
claim (444 for opencv-doc's 68-frame tree.avi); the AVA demo's label blocks never cover each other."""
import struct
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / 'tools', ROOT / 'tools/demo'):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import recognize  # noqa: E402
from tasks.visualization.drawing import draw_labelled_boxes, place_labels  # noqa: E402

TREE = Path('/usr/share/doc/opencv-doc/examples/data/tree.avi')


def overclaiming_avi(path: Path, frames: int = 12, claim: int = 120) -> Path:
    """An intact MJPG AVI whose headers (avih dwTotalFrames, strh dwLength) claim ``claim`` frames."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 10.0, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    writer.release()
    data = bytearray(path.read_bytes())
    avih = data.index(b'avih') + 8
    data[avih + 16:avih + 20] = struct.pack('<I', claim)
    strh = data.index(b'strh') + 8
    data[strh + 32:strh + 36] = struct.pack('<I', claim)
    path.write_bytes(bytes(data))
    return path


def videos(tmp_path):
    found = [(overclaiming_avi(tmp_path / 'claims.avi'), 12)]
    if TREE.is_file():
        found.append((TREE, 68))
    return found


def test_progress_counts_decoded_frames(tmp_path):
    for video, decoded in videos(tmp_path):
        claimed = int(cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT))
        assert claimed > decoded, (video, claimed)  # the container over-claims
        assert recognize.frame_total(video) == decoded
        assert recognize.write_video(video, tmp_path / f'{video.stem}_out.mp4', ['label 0.9']) == decoded


def _intersect(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize('seed', range(5))
def test_ava_label_blocks_do_not_overlap(seed):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (360, 480, 3), dtype=np.uint8)
    # a crowd: 8 people side by side, boxes overlapping, 3 labels each
    x0 = rng.integers(0, 60, 8) + np.arange(8) * 45
    y0 = rng.integers(20, 60, 8)
    boxes = [(int(x), int(y), int(x) + 90, int(y) + 250) for x, y in zip(x0, y0)]
    labels = [[f'stand {0.9 - k / 10:.2f}', 'talk to (e.g., self, a person) 0.71', 'watch (a person) 0.55']
              for k in range(8)]
    out, rects = draw_labelled_boxes(img, boxes, labels, scale=0.4)
    assert out.shape == img.shape and len(rects) == 8
    for i, a in enumerate(rects):
        assert 0 <= a[0] < a[2] <= 480 and 0 <= a[1] < a[3] <= 360, a
        for b in rects[i + 1:]:
            assert not _intersect(a, b), (a, b)


def test_label_stays_at_its_box_when_there_is_room():
    rects = place_labels([(10, 20, 100, 200), (300, 20, 400, 200)], [(80, 30), (80, 30)], (360, 480))
    assert rects == [(10, 20, 90, 50), (300, 20, 380, 50)]
