"""Drawing helpers (tasks/visualization/drawing.py) and VideoVisualizationHook on a fake test batch."""
import numpy as np
import torch
from mmaction.structures import ActionDataSample

from tasks.visualization import VideoVisualizationHook, contact_sheet, label_lines, put_lines


def test_contact_sheet_tiles_frames_row_by_row():
    frames = np.stack([np.full((8, 16, 3), 10 * t, np.uint8) for t in range(6)])  # (T, H, W, 3)
    sheet = contact_sheet(frames, cols=4, height=8)
    assert sheet.shape == (16, 64, 3)  # 2 rows of 4 tiles, the last two black
    assert sheet[0, 16, 0] == 10 and sheet[8, 16, 0] == 50 and not sheet[8, 32:].any()


def test_label_lines_and_put_lines():
    lines = label_lines(np.array([0.1, 0.7, 0.2]), gt=1, classes=['a', 'b', 'c'], topk=2)
    assert lines == ['GT: 1 b', '1 b: 0.70', '2 c: 0.20']
    image = np.zeros((60, 200, 3), np.uint8)
    drawn = put_lines(image, lines)
    assert drawn.shape == image.shape and drawn.any() and not image.any()  # a new image


def test_hook_writes_one_png_per_interval(tmp_path):
    from mmengine.visualization import Visualizer
    Visualizer.get_instance('test_video_visualization_hook')

    class Runner:
        log_dir, iter = str(tmp_path), 0

    hook = VideoVisualizationHook(enable=True, interval=2, out_dir='vis')
    samples = []
    for label in range(3):
        sample = ActionDataSample().set_gt_label(label)
        sample.set_pred_score(torch.tensor([0.2, 0.5, 0.3]))
        samples.append(sample)
    batch = dict(inputs=[torch.randint(0, 255, (1, 3, 4, 16, 16), dtype=torch.uint8) for _ in range(3)])
    hook.after_test_iter(Runner(), 0, batch, samples)
    assert sorted(p.name for p in (tmp_path / 'vis').iterdir()) == ['test_000000.png', 'test_000002.png']
