"""Pictures: drawing helpers shared by the hook and the demos (:mod:`.drawing`, plain OpenCV, no display
needed) and ``VideoVisualizationHook`` (:mod:`.hook`), which draws predictions on validation / test clips.
The training curves picture is :class:`tasks.engine.hooks.CurvesHook`."""
from .drawing import contact_sheet, label_lines, put_lines
from .hook import VideoVisualizationHook

__all__ = ['VideoVisualizationHook', 'contact_sheet', 'label_lines', 'put_lines']
