"""The main window: composes the canvas, prediction, feature maps, training and layers panels.

Flows (one-way):
- Drawing: canvas stroke -> (throttle) -> preprocess -> one forward pass with feature taps -> prediction
  bars and feature maps.
- Training: action -> JobRunner (worker thread) -> Trainer -> signals -> curves, progress, live weights;
  Stop -> stop flag -> the job ends at the next batch; result -> swapped in as the current model here,
  on the GUI thread.
"""
from __future__ import annotations

import copy
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QRectF, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import (QComboBox, QFileDialog, QHBoxLayout, QLabel, QMainWindow, QMessageBox, QPushButton,
                               QSplitter, QTabWidget, QToolBar, QVBoxLayout, QWidget)

from model.checkpoint import CheckpointError, load_checkpoint, load_pretrained, save_checkpoint
from model.collect import DigitStore, StoreError
from model.data import DataError, load_mnist, load_target, resolve_data_dir
from model.network import DSDCNet, NetConfig
from model.inspect import confusion_matrix, effective_receptive_field, layer_taps, receptive_field_box, saliency, theoretical_support
from model.data import normalize
from model.preprocess import Preprocessed, preprocess_canvas
from model.train import Trainer, evaluate, finetune, finetune_config, pretrain_config

from .architecture_panel import ArchitecturePanel
from .canvas import DrawingCanvas
from .errors_panel import ErrorsPanel
from .collect_panel import CollectPanel
from .feature_maps import FeatureMapViewer
from .layers_panel import LayersPanel
from .prediction import InputPreview, PredictionPanel
from .training_panel import TrainingPanel
from .worker import Job, JobResult, JobRunner

__all__ = ["MainWindow"]

PREDICT_INTERVAL_MS = 40  # at most ~25 predictions a second while a stroke is drawn


class MainWindow(QMainWindow):
    predictionUpdated = Signal()    # after the prediction and feature maps were refreshed
    modelChanged = Signal()         # a new current model (loaded, reset, trained)
    jobFinished = Signal(str)       # "finished", "stopped", "diverged" or "failed"

    def __init__(self, settings: QSettings | None = None, model: DSDCNet | None = None,
                 store: DigitStore | None = None):
        super().__init__()
        self.setWindowTitle("DSDC Studio — depthwise-separable dilated convolutions, live")
        self.settings = settings or QSettings("DSDC Studio", "DSDC Studio")
        self.model = model if model is not None else load_pretrained()
        self.model.eval()
        self.model_source = "shipped weights" if model is None else "given model"
        self.live_model: DSDCNet | None = None   # the copy shown while a job trains
        self.last_report = None
        self.job_kind: str | None = None
        self._fixed_input: Preprocessed | None = None  # a loaded test image, fed to the network unchanged

        # --- widgets ---
        self.canvas = DrawingCanvas()
        self.preview = InputPreview()
        self.prediction = PredictionPanel()
        self.feature_maps = FeatureMapViewer()
        self.training = TrainingPanel()
        self.layers = LayersPanel()
        self.store = store if store is not None else DigitStore()
        self.collect = CollectPanel(self.store)
        self.architecture = ArchitecturePanel()
        self.errors = ErrorsPanel()
        clear = QPushButton("Clear")
        clear.setToolTip("Clear the canvas (Esc / Delete)")
        clear.clicked.connect(self.canvas.clear)
        undo = QPushButton("Undo")
        undo.setToolTip("Undo the last stroke (Ctrl+Z)")
        undo.clicked.connect(self.canvas.undo)
        buttons = QHBoxLayout()
        buttons.addWidget(clear)
        buttons.addWidget(undo)
        buttons.addStretch(1)
        self.saliency_box = QComboBox()
        self.saliency_box.addItem("no saliency", None)
        self.saliency_box.addItem("saliency: predicted class", -1)
        for i in range(10):
            self.saliency_box.addItem(f"saliency: class {i}", i)
        self.saliency_box.setToolTip("Which pixels drove the score of a class (gradient x input), shown over the "
                                     "network input: red raised the score, blue lowered it.")
        self.saliency_box.currentIndexChanged.connect(lambda _: self.update_prediction())
        side = QVBoxLayout()
        side.addWidget(QLabel("network input:"))
        side.addWidget(self.preview)
        side.addWidget(self.saliency_box)
        buttons.addLayout(side)

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.addWidget(self.canvas, 1)
        ll.addLayout(buttons)
        ll.addWidget(self.prediction)
        self.prediction.setMaximumHeight(230)
        self.canvas.setMinimumSize(280, 280)
        left.setMinimumWidth(420)

        self.tabs = QTabWidget()
        self.tabs.addTab(self.feature_maps, "Feature maps")
        self.tabs.addTab(self.training, "Training")
        self.tabs.addTab(self.layers, "Layers && fine-tuning")
        self.tabs.addTab(self.collect, "My digits")
        self.tabs.addTab(self.architecture, "Architecture")
        self.tabs.addTab(self.errors, "Errors")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([540, 860])
        split.setChildrenCollapsible(False)
        self.setCentralWidget(split)
        self.setMinimumSize(900, 600)

        # --- actions ---
        self.pretrain_action = self._action("Pretrain", "Ctrl+P", "Train a fresh network on MNIST (Ctrl+P)",
                                            self.start_pretrain)
        self.freeze_action = self._action("Freeze layers", "Ctrl+L", "Apply the freeze policy chosen in the "
                                          "Layers tab (Ctrl+L)", self.apply_freeze_policy)
        self.finetune_action = self._action("Fine-tune", "Ctrl+T", "Fine-tune the current network on the target "
                                            "chosen in the Layers tab; frozen blocks stay unchanged (Ctrl+T)",
                                            self.start_finetune)
        self.stop_action = self._action("Stop", "Ctrl+.", "Stop the running job at the next batch (Ctrl+.)",
                                        self.stop_job)
        self.evaluate_action = self._action("Evaluate", "Ctrl+E", "Accuracy of the current network on the MNIST "
                                            "test set (Ctrl+E)", self.start_evaluate)
        tb = QToolBar("Actions")
        tb.setObjectName("actions")
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for a in (self.pretrain_action, self.freeze_action, self.finetune_action, self.stop_action,
                  self.evaluate_action):
            tb.addAction(a)
        self.addToolBar(tb)

        file_menu = self.menuBar().addMenu("&File")
        self.open_action = self._action("Open checkpoint…", QKeySequence.StandardKey.Open, "Load weights from a file",
                                        self.open_checkpoint_dialog)
        self.save_action = self._action("Save checkpoint…", QKeySequence.StandardKey.Save,
                                        "Save the current network to a file", self.save_checkpoint_dialog)
        self.reset_action = self._action("Reset to shipped weights", "Ctrl+R", "Go back to the pretrained weights "
                                         "that come with the app", self.reset_to_shipped)
        quit_action = self._action("Quit", QKeySequence.StandardKey.Quit, "Quit", self.close)
        for a in (self.open_action, self.save_action, self.reset_action):
            file_menu.addAction(a)
        file_menu.addSeparator()
        file_menu.addAction(quit_action)
        train_menu = self.menuBar().addMenu("&Train")
        for a in (self.pretrain_action, self.freeze_action, self.finetune_action, self.stop_action,
                  self.evaluate_action):
            train_menu.addAction(a)

        self.status_label = QLabel()
        self.statusBar().addWidget(self.status_label, 1)
        self.model_label = QLabel()
        self.statusBar().addPermanentWidget(self.model_label)

        # --- wiring ---
        self.runner = JobRunner(self)
        self.runner.status.connect(self.set_status)
        self.runner.batchEnd.connect(self.training.add_batch)
        self.runner.epochEnd.connect(self._on_epoch_end)
        self.runner.snapshot.connect(self._on_snapshot)
        self.runner.finished.connect(self._on_job_finished)
        self.runner.failed.connect(self._on_job_failed)
        self.runner.idle.connect(self._update_actions)

        self._predict_timer = QTimer(self)
        self._predict_timer.setSingleShot(True)
        self._predict_timer.setInterval(PREDICT_INTERVAL_MS)
        self._predict_timer.timeout.connect(self.update_prediction)
        self.canvas.changed.connect(self._schedule_prediction)
        self.canvas.strokeFinished.connect(self.update_prediction)
        self.layers.frozenChanged.connect(self._on_frozen_changed)
        self.feature_maps.unitSelected.connect(self.show_receptive_field)
        self.errors.evaluateRequested.connect(self.start_evaluate)
        self.errors.imageChosen.connect(self.load_test_image)
        self.architecture.trainBaselineRequested.connect(self.start_baseline_training)
        self.architecture.loadBaselineRequested.connect(self.load_baseline_dialog)
        self.architecture.compareRequested.connect(self.start_compare)
        self.training.dataDirChanged.connect(lambda d: self.settings.setValue("data_dir", d))
        self.collect.labelChosen.connect(self.collect_sample)
        self.collect.collectModeChanged.connect(self._on_collect_mode)
        self.collect.deleteRequested.connect(self._delete_samples)
        self.collect.importRequested.connect(self._import_samples)
        self.collect.exportRequested.connect(self._export_samples)
        # Digit keys save the drawing in collect mode (window-wide, so the canvas can keep the focus).
        self._digit_shortcuts = []
        for label in self.store.classes:
            sc = QShortcut(QKeySequence(label), self)
            sc.activated.connect(lambda lab=label: self.collect_sample(lab))
            sc.setEnabled(False)
            self._digit_shortcuts.append(sc)

        self._load_settings()
        self._refresh_baseline()
        self._on_model_changed()
        self._update_actions()
        self.set_status("Draw a digit on the canvas. Pretrain or fine-tune from the toolbar; look inside in the tabs.")

    def _action(self, text, shortcut, tip, slot) -> QAction:
        a = QAction(text, self)
        a.setShortcut(QKeySequence(shortcut))
        a.setToolTip(tip)
        a.setStatusTip(tip)
        a.triggered.connect(slot)
        return a

    # --- settings (remembered between runs) ----------------------------------------------------------
    def _load_settings(self) -> None:
        s, t = self.settings, self.training
        t.epochs.setValue(int(s.value("epochs", t.epochs.value())))
        t.batch_size.setValue(int(s.value("batch_size", t.batch_size.value())))
        t.lr.setValue(float(s.value("lr", t.lr.value())))
        t.finetune_lr.setValue(float(s.value("finetune_lr", t.finetune_lr.value())))
        t.train_limit.setValue(int(s.value("train_limit", t.train_limit.value())))
        t.data_dir.setText(str(s.value("data_dir", "") or str(resolve_data_dir(None))))
        geom = s.value("geometry")
        if geom is not None:
            self.restoreGeometry(geom)

    def save_settings(self) -> None:
        s, t = self.settings, self.training
        s.setValue("epochs", t.epochs.value())
        s.setValue("batch_size", t.batch_size.value())
        s.setValue("lr", t.lr.value())
        s.setValue("finetune_lr", t.finetune_lr.value())
        s.setValue("train_limit", t.train_limit.value())
        s.setValue("data_dir", t.data_dir.text())
        s.setValue("geometry", self.saveGeometry())
        s.sync()

    def data_dir(self) -> Path:
        return resolve_data_dir(self.training.data_dir.text().strip() or None)

    # --- status ------------------------------------------------------------------------------------
    def set_status(self, text: str) -> None:
        self.status_label.setText(text)

    def show_error(self, text: str, title: str = "DSDC Studio") -> None:
        """One clear sentence in a dialog (and the status bar). Non-blocking so tests and jobs go on."""
        self.set_status(text)
        self.last_error = text
        for old in self.findChildren(QMessageBox, "errorDialog"):  # one error on screen at a time
            old.close()
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setObjectName("errorDialog")
        box.open()

    # --- drawing -> prediction -----------------------------------------------------------------------
    def display_model(self) -> DSDCNet:
        return self.live_model if self.live_model is not None else self.model

    def _schedule_prediction(self) -> None:
        if not self._predict_timer.isActive():
            self._predict_timer.start()

    def update_prediction(self) -> None:
        """Preprocess the canvas, run one forward pass with taps, update every view from it."""
        self._predict_timer.stop()
        if self._fixed_input is not None and not self.canvas.strokes:
            pre = self._fixed_input  # a test image shown as is: the network sees exactly what was evaluated
        else:
            self._fixed_input = None
            pre = preprocess_canvas(self.canvas.image_array(), ink="dark")
        self.last_input = pre
        net = self.display_model()
        self.prediction.set_class_names(list(net.config.class_names))
        if pre.empty:
            self.preview.show_image(pre.image28.numpy())
            self.prediction.show_empty()
            self.feature_maps.clear()
        else:
            with torch.inference_mode():
                was_training = net.training
                net.eval()
                logits, maps = net.feature_maps(pre.tensor)
                net.train(was_training)
                probs = torch.softmax(logits, 1)[0].numpy()
            self.prediction.show_probabilities(probs)
            self.feature_maps.set_maps({k: v[0].numpy() for k, v in maps.items()})
            self.preview.show_image(pre.image28.numpy(), self._saliency(net, pre))
        self.predictionUpdated.emit()

    def _saliency(self, net, pre) -> np.ndarray | None:
        choice = self.saliency_box.currentData()
        if choice is None:
            return None
        target = None if choice == -1 else choice
        if target is not None and target >= net.config.num_classes:
            return None
        heat, _ = saliency(net, pre.tensor, target)
        return heat.numpy()

    def show_receptive_field(self, layer: str, channel: int, row: int, col: int) -> None:
        """Highlight on the canvas what unit (channel, row, col) of ``layer`` sees: the theoretical field (dashed
        box and tint; with "taps only", just the positions its own dilated kernel reads) and the effective one
        (red, from the gradient of the unit for the current drawing)."""
        pre = getattr(self, "last_input", None)
        if pre is None or pre.empty or layer in ("pool", "head"):
            self.canvas.set_overlay(None)
            return
        net = self.display_model()
        top, left, bottom, right = receptive_field_box(net, layer, row, col)
        if self.feature_maps.layer_only.isChecked():
            support = layer_taps(net, layer, row, col)
        else:
            support = theoretical_support(net, layer, row, col).numpy()
        erf = effective_receptive_field(net, pre.tensor, layer, channel, row, col).numpy()
        erf = erf / max(float(erf.max()), 1e-12)
        rgba = np.zeros((28, 28, 4), np.uint8)
        rgba[support] = (0, 150, 255, 55)
        strong = erf > 0.02
        rgba[strong, 0] = 255
        rgba[strong, 1] = (40 * (1 - erf[strong])).astype(np.uint8)
        rgba[strong, 2] = 0
        rgba[strong, 3] = (60 + 170 * erf[strong]).astype(np.uint8)
        self.receptive_field = {"box": (top, left, bottom, right), "support": support, "effective": erf}

        def canvas_rect(t, l, b, r) -> QRectF:
            y0, x0 = pre.to_input(t - 0.5, l - 0.5)
            y1, x1 = pre.to_input(b + 0.5, r + 0.5)
            return QRectF(x0, y0, x1 - x0, y1 - y0)
        self.canvas.set_overlay(rgba, canvas_rect(0, 0, 27, 27), canvas_rect(top, left, bottom, right))
        rf = bottom - top + 1
        self.set_status(f"{layer} channel {channel} unit ({row}, {col}): receptive field {rf}x{rf} input pixels "
                        f"(dashed); red = effective field for this drawing.")

    # --- model management ----------------------------------------------------------------------------
    def set_model(self, model: DSDCNet, source: str) -> None:
        model.eval()
        self.model = model
        self.model_source = source
        self._on_model_changed()

    def _on_model_changed(self) -> None:
        self.layers.set_model(self.model)
        self.architecture.set_model(self.model)
        c = self.model.param_counts()
        self.model_label.setText(f"{self.model_source} · {c['total']:,} parameters")
        self.update_prediction()
        self.modelChanged.emit()

    def _on_frozen_changed(self, names: set) -> None:
        counts = self.model.freeze(set(names))
        self.layers.show_counts(counts)
        self.set_status(f"Frozen: {', '.join(sorted(names)) or 'nothing'} — {counts['trainable']:,} parameters "
                        f"will train.")

    def apply_freeze_policy(self) -> None:
        self.layers.apply_policy()
        self.tabs.setCurrentWidget(self.layers)

    def open_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", str(self.settings.value("last_dir", "")),
                                              "Checkpoints (*.pt *.pth);;All files (*)")
        if path:
            self.load_checkpoint_file(path)

    def load_checkpoint_file(self, path: str) -> bool:
        if self.runner.busy:
            self.show_error("A job is running: stop it before loading another network.")
            return False
        try:
            model, meta = load_checkpoint(path)
        except CheckpointError as e:
            self.show_error(f"Could not load the checkpoint: {e}. The current network is kept.")
            return False
        self.settings.setValue("last_dir", str(Path(path).parent))
        self.set_model(model, Path(path).name)
        self.set_status(f"Loaded {path}")
        return True

    def save_checkpoint_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save checkpoint", str(self.settings.value("last_dir", "")),
                                              "Checkpoints (*.pt)")
        if path:
            self.save_checkpoint_file(path)

    def save_checkpoint_file(self, path: str) -> bool:
        try:
            save_checkpoint(path, self.model, {"source": self.model_source})
        except CheckpointError as e:
            self.show_error(f"Could not save: {e}")
            return False
        self.settings.setValue("last_dir", str(Path(path).parent))
        self.set_status(f"Saved {path}")
        return True

    def reset_to_shipped(self) -> None:
        if self.runner.busy:
            self.show_error("A job is running: stop it before resetting the network.")
            return
        try:
            self.set_model(load_pretrained(), "shipped weights")
        except CheckpointError as e:
            self.show_error(f"The shipped weights could not be loaded: {e}")
            return
        self.set_status("Back to the shipped pretrained weights.")

    # --- jobs ----------------------------------------------------------------------------------------
    def _update_actions(self) -> None:
        busy = self.runner.busy
        for a in (self.pretrain_action, self.finetune_action, self.evaluate_action, self.open_action,
                  self.reset_action, self.freeze_action):
            a.setEnabled(not busy)
        self.stop_action.setEnabled(busy)
        self.layers.table.setEnabled(not busy)
        self.layers.freeze_button.setEnabled(not busy)

    @staticmethod
    def train_threads() -> int:
        """Threads for PyTorch while a job runs: all cores but one, so the GUI thread always has a core
        (measured in benchmarks/gui_responsiveness.py; override with DSDC_TRAIN_THREADS)."""
        env = os.environ.get("DSDC_TRAIN_THREADS")
        if env and env.isdigit() and int(env) > 0:
            return int(env)
        return max(1, (os.cpu_count() or 2) - 1)

    def _start(self, job: Job) -> bool:
        torch.set_num_threads(self.train_threads())  # process-wide; the GUI's own forward passes are tiny
        if not self.runner.start(job):
            self.set_status("A job is already running.")
            return False
        self.job_kind = job.kind
        self.save_settings()
        self._update_actions()
        self.set_status(job.description)
        return True

    def _mnist_training(self, net: DSDCNet, what: str, live: bool):
        """A job body that trains ``net`` on MNIST with the Training tab's settings; returns (result, images).
        ``live``: send weight snapshots, so that the canvas shows the network as it learns."""
        t = self.training
        cfg = pretrain_config(epochs=t.epochs.value(), batch_size=t.batch_size.value(), lr=t.lr.value())
        root, limit = self.data_dir(), t.train_limit.value()

        def train_it(ctx):
            ctx.status(f"Loading MNIST from {root} (downloading it there if it is missing)…")
            train, test = load_mnist(root, train=True), load_mnist(root, train=False)
            if limit:
                train = train.take(limit, seed=0)
            ctx.status(f"Training {what} on {len(train):,} MNIST images, testing on {len(test):,}…")
            on_batch = (lambda b: (ctx.on_batch_end(b), ctx.maybe_snapshot(net))) if live else ctx.on_batch_end
            return Trainer(net, train, test, cfg, on_batch, ctx.on_epoch_end, ctx.stop_event).fit(), len(train)

        return train_it

    def start_pretrain(self) -> bool:
        # a fresh network of the current architecture, with the ten digit classes whatever the current head
        live = DSDCNet(replace(self.model.config, num_classes=10, class_names=NetConfig().class_names))
        self.live_model = None  # filled from the worker's snapshots (never the object it trains)
        train_it = self._mnist_training(live, "a fresh network", live=True)

        def run(ctx) -> JobResult:
            result, n = train_it(ctx)
            return JobResult("pretrain", live, result, message=result.message, extra={"trained_on": n})

        self.training.begin_run("Pretrain")
        self.tabs.setCurrentWidget(self.training)
        return self._start(Job("pretrain", run, "Pretraining a fresh network on MNIST…"))

    def start_finetune(self) -> bool:
        t = self.training
        target = self.layers.target_string()
        if target == "folder:":
            self.show_error("Choose a folder of labelled images to fine-tune on (Layers tab).")
            return False
        policy = self.layers.frozen_names()
        replay_n = self.layers.replay.value()
        model = copy.deepcopy(self.model)
        counts = model.freeze(policy)
        cfg = finetune_config(epochs=t.epochs.value(), batch_size=t.batch_size.value(), lr=t.finetune_lr.value())
        root, limit = self.data_dir(), t.train_limit.value()
        self.live_model = None  # filled from the worker's snapshots (never the object it trains)

        def run(ctx) -> JobResult:
            ctx.status(f"Loading the fine-tuning target {target} (downloading it into {root} if it is missing)…")
            train, held = load_target(target, root)
            if limit:
                train = train.take(limit, seed=0)
            try:
                mnist_test = load_mnist(root, train=False, download=False)
            except DataError:
                mnist_test = None
            replay = load_mnist(root, train=True).take(replay_n, seed=1) if replay_n else None
            ctx.status(f"Fine-tuning on {len(train):,} images of {target}, {len(held):,} held out; "
                       f"{counts['trainable']:,} parameters train, {counts['frozen']:,} frozen…")
            report = finetune(model, train, held, policy, cfg, mnist_test,
                              lambda b: (ctx.on_batch_end(b), ctx.maybe_snapshot(model)), ctx.on_epoch_end,
                              ctx.stop_event, replay=replay)
            return JobResult("finetune", model, report.result, report,
                             message=report.result.message if report.result else "evaluated only")

        self.training.begin_run("Fine-tune")
        self.tabs.setCurrentWidget(self.training)
        return self._start(Job("finetune", run, f"Fine-tuning on {target}…"))

    def start_evaluate(self) -> bool:
        model = copy.deepcopy(self.model)
        root = self.data_dir()

        def run(ctx) -> JobResult:
            ctx.status(f"Evaluating on the MNIST test set from {root}…")
            test = load_mnist(root, train=False)
            if model.config.num_classes != 10:
                raise ValueError(f"this network has {model.config.num_classes} classes; MNIST needs 10")
            matrix, probs = confusion_matrix(model, test)
            acc = float(matrix.trace()) / len(test)
            return JobResult("evaluate", None, message=f"Test accuracy {acc:.2%} on the {len(test):,} MNIST test "
                             f"images.", extra={"accuracy": acc, "data": test, "probs": probs, "matrix": matrix,
                                                 "classes": list(model.config.class_names)})

        return self._start(Job("evaluate", run, "Evaluating on the MNIST test set…"))

    def load_test_image(self, index: int) -> None:
        """Put an evaluated test image on the canvas (dark ink on white) to inspect it."""
        data = self.errors.data
        if data is None:
            return
        image28 = data.images[index]
        self.canvas.load_image(255 - image28.numpy())
        # the canvas shows it 10x; the network gets the 28x28 image itself, not a re-preprocessed copy
        k = self.canvas._size / 28
        self._fixed_input = Preprocessed(False, image28.clone(), normalize(image28[None]), (0, 0, 27, 27), 1 / k,
                                         (0, 0))
        self.update_prediction()
        self.set_status(f"Test image {index}: true class {data.classes[int(data.labels[index])]}. Its feature maps "
                        f"and saliency are shown.")

    # --- the standard-conv baseline --------------------------------------------------------------------
    def baseline_path(self) -> Path:
        from model.data import user_data_dir
        return Path(self.settings.value("baseline_path", "") or user_data_dir() / "baseline_standard.pt")

    def _refresh_baseline(self) -> None:
        p = self.baseline_path()
        self.architecture.set_baseline(f"Baseline: {p}" if p.is_file() else "No baseline yet: train or load one.",
                                       p.is_file())

    def load_baseline_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Baseline checkpoint", "", "Checkpoints (*.pt *.pth)")
        if path:
            self.settings.setValue("baseline_path", path)
            self._refresh_baseline()

    def start_baseline_training(self) -> bool:
        out = self.baseline_path()
        net = DSDCNet(NetConfig(separable=False))
        train_it = self._mnist_training(net, f"the standard-conv baseline ({net.param_counts()['total']:,} "
                                             f"parameters)", live=False)

        def run(ctx) -> JobResult:
            result, _ = train_it(ctx)
            out.parent.mkdir(parents=True, exist_ok=True)
            save_checkpoint(out, net, {"baseline": True, "test_accuracy": result.test_accuracy})
            return JobResult("baseline", None, result, message=f"Baseline saved to {out}")

        self.training.begin_run("Baseline")
        self.tabs.setCurrentWidget(self.training)
        return self._start(Job("baseline", run, "Training the standard-conv baseline…"))

    def start_compare(self) -> bool:
        ds, root, path = copy.deepcopy(self.model), self.data_dir(), self.baseline_path()

        def run(ctx) -> JobResult:
            import time
            baseline, _ = load_checkpoint(path)
            test = load_mnist(root, train=False)
            rows = []
            for name, net in (("DS-dilated (current)", ds), ("standard conv (baseline)", baseline)):
                ctx.status(f"Measuring {name}…")
                _, acc = evaluate(net, test)
                x1 = test.images[:1]
                with torch.inference_mode():
                    from model.data import normalize
                    xb = normalize(x1)
                    for _ in range(10):
                        net(xb)
                    t0 = time.perf_counter()
                    for _ in range(100):
                        net(xb)
                    ms = (time.perf_counter() - t0) * 10
                    xk = normalize(test.images[:1000])
                    net(xk)
                    t0 = time.perf_counter()
                    net(xk)
                    ips = 1000 / (time.perf_counter() - t0)
                rows.append((name, net.param_counts()["total"], acc, ms, ips))
            return JobResult("compare", None, message="Compared on the MNIST test set.", extra={"rows": rows})

        return self._start(Job("compare", run, "Comparing with the baseline…"))

    def stop_job(self) -> None:
        if self.runner.busy:
            self.runner.stop()
            self.set_status("Stopping at the next batch…")

    def _on_snapshot(self, snapshot) -> None:
        # A safe point: the worker copied the weights between batches; show them in the predictions, in a
        # network of the GUI thread's own (the worker's is never touched from here).
        if not self.runner.busy:
            return  # a late snapshot of a job that has already ended
        config, state = snapshot
        if self.live_model is None or self.live_model.config != config:
            self.live_model = DSDCNet(config).eval()
        self.live_model.load_state_dict(state)
        if not self.canvas.is_empty:
            self.update_prediction()

    def _on_epoch_end(self, info) -> None:
        self.training.add_epoch(info)
        if info.test_accuracy is not None:
            self.set_status(f"Epoch {info.epoch}: test accuracy {info.test_accuracy:.2%}, test loss "
                            f"{info.test_loss:.4f}")

    def _on_job_finished(self, result: JobResult) -> None:
        self.live_model = None
        status = result.train_result.status if result.train_result is not None else "finished"
        if result.kind == "evaluate":
            self.training.end_run("evaluated")
            e = result.extra
            self.errors.show_results(e["data"], e["probs"], e["matrix"].numpy(), e["classes"])
            self.tabs.setCurrentWidget(self.errors)
            self.set_status(result.message)
        elif result.kind == "compare":
            self.architecture.show_comparison(result.extra["rows"])
            self.set_status(result.message)
        elif result.kind == "baseline":
            self.training.end_run(f"baseline: {status}")
            self._refresh_baseline()
            self.set_status(result.message)
        elif result.model is not None and status != "diverged":
            source = "pretrained here" if result.kind == "pretrain" else "fine-tuned here"
            if status == "stopped":
                source += " (stopped early)"
            self.set_model(result.model, source)
            if result.report is not None:
                self.last_report = result.report
                self._show_report(result.report)
            self.training.end_run(f"{result.kind}: {status}")
            self.set_status(f"{result.kind.capitalize()} {status}: {result.message}")
        else:
            self.training.end_run(f"{result.kind}: {status}")
            self.update_prediction()
            self.show_error(result.message or f"{result.kind} failed")
        self.jobFinished.emit(status)

    def _show_report(self, r) -> None:
        def f(v):
            return "n/a" if v is None else f"{v:.2%}"
        self.training.results_label.setText(
            f"<b>Fine-tuning ({r.policy if isinstance(r.policy, str) else 'custom'})</b>: "
            f"{r.trainable:,} trainable, {r.frozen:,} frozen parameters{' · new head' if r.head_replaced else ''}"
            f"<table cellpadding=3><tr><th></th><th>before</th><th>after</th></tr>"
            f"<tr><td>target (held out)</td><td>{f(r.target_before)}</td><td>{f(r.target_after)}</td></tr>"
            f"<tr><td>MNIST test set</td><td>{f(r.mnist_before)}</td><td>{f(r.mnist_after)}</td></tr></table>")

    def _on_job_failed(self, message: str) -> None:
        self.live_model = None
        self.training.end_run("failed")
        self.update_prediction()
        self.show_error(message)
        self.jobFinished.emit("failed")

    # --- my digits -----------------------------------------------------------------------------------
    def _on_collect_mode(self, on: bool) -> None:
        for sc in self._digit_shortcuts:
            sc.setEnabled(on)
        if on:
            self.tabs.setCurrentWidget(self.collect)
            self.set_status("Collect mode: draw a digit, then press its key (0-9) or click its button.")
        else:
            self.set_status("Collect mode off.")

    def collect_sample(self, label: str) -> bool:
        """Save the current drawing as a sample of ``label`` and clear the canvas for the next one."""
        pre = preprocess_canvas(self.canvas.image_array(), ink="dark")
        if pre.empty:
            self.set_status("Nothing drawn: draw a digit first, then press its key.")
            return False
        try:
            self.store.add(label, pre.image28.numpy(), self.canvas.image_array())
        except StoreError as e:
            self.show_error(str(e))
            return False
        self.canvas.clear()
        self.collect.refresh()
        self.set_status(f"Saved a '{label}' ({self.store.counts()[label]} of them now). Draw the next one.")
        return True

    def _delete_samples(self, samples) -> None:
        try:
            for smp in samples:
                self.store.delete(smp)
        except StoreError as e:
            self.show_error(str(e))
        self.collect.refresh()
        self.set_status(f"Deleted {len(samples)} sample(s).")

    def _import_samples(self, folder: str) -> None:
        try:
            n = self.store.import_from(folder)
        except StoreError as e:
            self.show_error(str(e))
            return
        self.collect.refresh()
        self.set_status(f"Imported {n} samples from {folder}.")

    def _export_samples(self, folder: str) -> None:
        try:
            self.store.export_to(folder)
        except StoreError as e:
            self.show_error(str(e))
            return
        self.set_status(f"Exported {len(self.store)} samples to {folder}.")

    # --- closing -------------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        self.save_settings()
        if self.runner.busy:
            self.set_status("Stopping the running job…")
            if not self.runner.shutdown(3000):
                # Not at a batch boundary: the job is inside a download, which has no stop flag. Close the
                # window now and let the thread end before the process does (downloads time out, see
                # model.data.download_timeout), so no thread outlives the app.
                self.hide()
                self.runner.shutdown(None)
        event.accept()
