"""DSDC Studio's desktop application: thin PySide6 views over the ``model`` package."""
