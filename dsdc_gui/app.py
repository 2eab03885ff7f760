"""Entry point: ``dsdc-gui`` or ``python -m dsdc_gui``."""
from __future__ import annotations

import sys


def configure_threads() -> None:
    """The training thread runs Python between PyTorch calls; a short GIL switch interval lets the GUI
    thread in within ~1 ms instead of 5 ms (measured in benchmarks/gui_responsiveness.py)."""
    sys.setswitchinterval(0.001)


def main(argv: list[str] | None = None) -> int:
    from PySide6.QtWidgets import QApplication, QMessageBox

    app = QApplication.instance() or QApplication(list(argv if argv is not None else sys.argv))
    configure_threads()
    app.setApplicationName("DSDC Studio")
    app.setOrganizationName("DSDC Studio")
    from model.checkpoint import CheckpointError
    from .main_window import MainWindow
    try:
        window = MainWindow()
    except CheckpointError as e:
        QMessageBox.critical(None, "DSDC Studio", f"The shipped weights could not be loaded: {e}")
        return 1
    window.resize(1280, 820)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
