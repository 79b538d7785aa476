"""A self-contained HTML report: text, tables, static pictures and interactive 3D views.

The page works offline: pictures are embedded as data URIs (and also written beside
it as files), and plotly's bundled JavaScript is inlined once when a view needs it.
Needs ``brenier[cli]`` (plotly) for the interactive views, ``brenier[viz]`` for the
pictures.
"""

from ._page import Report
from ._scenes import map_scene, potential_frames_scene

__all__ = ["Report", "map_scene", "potential_frames_scene"]
