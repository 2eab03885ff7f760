"""Long jobs off the GUI thread: a worker QObject living in a QThread, talking to the GUI by signals.

The worker owns the model it trains (a copy, never the one the GUI draws with). Between batches — a safe
point — it hands the GUI a copy of the weights now and then (``snapshot``), so the canvas predictions
show the network learning; at the end it hands over the trained model (``finished``), which the GUI
swaps in on its own thread. No widget is touched here.
"""
from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot

__all__ = ["Job", "JobResult", "Worker", "JobRunner"]


@dataclass
class JobResult:
    kind: str                 # "pretrain", "finetune", "evaluate"
    model: object | None      # the model the job produced (None when it failed before training)
    train_result: object | None = None   # model.train.TrainResult
    report: object | None = None         # model.train.FinetuneReport for fine-tuning
    message: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class Job:
    """What to run: ``run(ctx)`` does the work and returns a ``JobResult``; ``ctx`` gives it callbacks."""

    kind: str
    run: Callable[["JobContext"], JobResult]
    description: str = ""


class JobContext:
    """Passed to a job: the stop event and the callbacks that turn into signals."""

    def __init__(self, worker: "Worker"):
        self._worker = worker
        self.stop_event = worker.stop_event
        self._last_snapshot = 0.0

    def status(self, text: str) -> None:
        self._worker.status.emit(text)

    def on_batch_end(self, info) -> None:
        self._worker.batchEnd.emit(info)

    def on_epoch_end(self, info) -> None:
        self._worker.epochEnd.emit(info)

    def maybe_snapshot(self, model, every_s: float = 0.4) -> None:
        """Emit (architecture, copy of the weights) at most every ``every_s`` seconds (called between batches).
        The architecture travels along because a job may change it (a fine-tune can replace the head)."""
        now = time.monotonic()
        if now - self._last_snapshot >= every_s:
            self._last_snapshot = now
            state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            self._worker.snapshot.emit((model.config, state))


class Worker(QObject):
    status = Signal(str)
    batchEnd = Signal(object)     # model.train.BatchInfo
    epochEnd = Signal(object)     # model.train.EpochInfo
    snapshot = Signal(object)     # (NetConfig, state_dict copy) of the model being trained
    finished = Signal(object)     # JobResult
    failed = Signal(str)          # one clear sentence

    def __init__(self, job: Job):
        super().__init__()
        self.job = job
        self.stop_event = threading.Event()

    @Slot()
    def run(self) -> None:
        ctx = JobContext(self)
        try:
            result = self.job.run(ctx)
        except Exception as e:  # every failure reaches the GUI as a message, never as a crash
            from model.checkpoint import CheckpointError
            from model.data import DataError
            if isinstance(e, (DataError, CheckpointError, ValueError, OSError)):
                self.failed.emit(str(e))
            else:
                traceback.print_exc()
                self.failed.emit(f"{self.job.kind} failed: {type(e).__name__}: {e}")
            return
        self.finished.emit(result)

    def stop(self) -> None:
        """Thread-safe: the job ends at the next batch boundary."""
        self.stop_event.set()


class JobRunner(QObject):
    """Runs one job at a time in a QThread; forwards the worker's signals; cleans up after it."""

    started = Signal(str)
    status = Signal(str)
    batchEnd = Signal(object)
    epochEnd = Signal(object)
    snapshot = Signal(object)
    finished = Signal(object)
    failed = Signal(str)
    idle = Signal()               # the thread has ended; a new job may start

    def __init__(self, parent=None):
        super().__init__(parent)
        self._thread: QThread | None = None
        self._worker: Worker | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def start(self, job: Job) -> bool:
        if self.busy:
            return False
        thread, worker = QThread(), Worker(job)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        for name in ("status", "batchEnd", "epochEnd", "snapshot", "finished", "failed"):
            getattr(worker, name).connect(getattr(self, name))
        worker.finished.connect(thread.quit)
        worker.failed.connect(thread.quit)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker = thread, worker
        thread.start()
        self.started.emit(job.kind)
        return True

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop()

    def shutdown(self, timeout_ms: int | None = 10000) -> bool:
        """Stop the job and wait for its thread (``None``: as long as it takes). True when it ended."""
        if self._thread is None:
            return True
        self.stop()
        self._thread.quit()
        ended = self._thread.wait() if timeout_ms is None else self._thread.wait(timeout_ms)
        if ended:
            self._on_thread_finished()
        return ended

    @Slot()
    def _on_thread_finished(self) -> None:
        if self._thread is None:
            return
        self._thread.deleteLater()
        self._worker.deleteLater()
        self._thread = self._worker = None
        self.idle.emit()
