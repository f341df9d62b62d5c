import cv2
import numpy as np
import pytest


@pytest.fixture(scope='session')
def toy_video(tmp_path_factory):
    """A 72-frame 40x56 mp4v video of a moving square (decodable by decord and OpenCV)."""
    path = tmp_path_factory.mktemp('video') / 'toy.mp4'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 25, (56, 40))
    for t in range(72):
        frame = np.full((40, 56, 3), 40, np.uint8)
        frame[10:22, t % 44:t % 44 + 12] = (0, 200, 255)
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope='session')
def toy_rawframes(toy_video, tmp_path_factory):
    """The toy video as a rawframe folder ``root/toy/img_00001.jpg ...`` (72 frames, decoded with decord) and
    its one-row rawframe list ``root/list.txt`` (label 1)."""
    import decord
    root = tmp_path_factory.mktemp('rawframes')
    frames = decord.VideoReader(str(toy_video))
    (root / 'toy').mkdir()
    for i in range(len(frames)):
        cv2.imwrite(str(root / 'toy' / f'img_{i + 1:05}.jpg'), frames[i].asnumpy()[..., ::-1])
    (root / 'list.txt').write_text(f'toy {len(frames)} 1\n')
    return root
