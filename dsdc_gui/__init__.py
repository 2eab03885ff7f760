"""DSDC Studio's desktop application: thin PySide6 views over the ``model`` package."""

import pyqtgraph as _pg

# Light plots to match the window; heat maps set their own dark background.
_pg.setConfigOptions(background="w", foreground="k", antialias=False)  # antialiased repaints stalled the GUI (docs/performance.md)
