"""The inspector's widgets and screens, one module per area of the screen.

The replay widgets are re-exported here because the app and custom screens compose them::

    from agenttui.tui.components import NodeTree, TimeSlider
"""
from .node_tree import NodeTree, node_label
from .time_slider import TimeSlider

__all__ = ["NodeTree", "TimeSlider", "node_label"]
