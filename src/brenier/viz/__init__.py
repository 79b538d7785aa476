"""Pictures of transport: plans, maps, potentials and their history (``brenier[viz]``).

matplotlib is imported when a picture is drawn, not when this module is imported; a
missing matplotlib raises an ImportError that names the extra to install. Every
function returns matplotlib figures built without pyplot, and writes files
atomically when given a ``path``.
"""

from ._figures import require_matplotlib, save_figure
from ._history import PotentialHistory, Snapshot, animate_history, plot_history
from ._plots import plot_map, plot_plan, plot_potentials

__all__ = [
    "PotentialHistory",
    "Snapshot",
    "animate_history",
    "plot_history",
    "plot_map",
    "plot_plan",
    "plot_potentials",
    "require_matplotlib",
    "save_figure",
]
