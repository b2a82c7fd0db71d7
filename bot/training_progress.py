"""What a training shows on the console: which component of the pipeline is being trained (k of n)
and, for the neural ones, their epochs every tenth of the way, as the gateway's own log lines.

Rasa reports the components through its `rasa.engine.training.hooks` logger (library records go
to the debug log) and the epochs through a tqdm bar (a wall of carriage returns in a log file or a
service's journal); both are taken over while a training runs."""
from __future__ import annotations

import contextlib
import logging
import re
import time

log = logging.getLogger("hotline.bot")
_STARTING = re.compile(r"Starting to train component '(\w+)'")
_FINISHED = re.compile(r"Finished training component '(\w+)'")


class TrainingProgress(logging.Handler):
    """Receives Rasa's training hook records and the epoch callback, and says how far it is."""

    def __init__(self, components: int = 0):
        super().__init__(logging.INFO)
        self.components = components  # how many components train (0: unknown)
        self.done = 0
        self.current = ""
        self.started = time.monotonic()
        self._component_started = self.started

    def _of(self) -> str:
        return f" ({self.done + 1} of {self.components})" if self.components else ""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if m := _STARTING.search(message):
            self.current, self._component_started = m.group(1), time.monotonic()
            log.info(f"training: {self.current}{self._of()}")
        elif m := _FINISHED.search(message):
            self.done += 1
            log.info(f"training: {m.group(1)} done in {time.monotonic() - self._component_started:.0f} s")

    def epoch(self, epoch: int, epochs: int) -> None:
        """After each epoch of a neural component: a line at every tenth, and at the last."""
        step = max(1, epochs // 10)
        if epoch % step == 0 or epoch == epochs:
            log.info(f"training: {self.current or 'model'} epoch {epoch}/{epochs} "
                     f"({time.monotonic() - self._component_started:.0f} s)")


@contextlib.contextmanager
def training_progress(components: int = 0):
    """While a training runs: Rasa's component records and epoch bars become progress lines."""
    import rasa.utils.train_utils as train_utils  # before the patch: it imports the class by name
    from rasa.utils.tensorflow import callback

    progress = TrainingProgress(components)
    hooks = logging.getLogger("rasa.engine.training.hooks")
    level = hooks.level
    hooks.addHandler(progress)
    hooks.setLevel(logging.INFO)
    original = callback.RasaTrainingLogger

    class EpochLines(original):
        def __init__(self, epochs: int, silent: bool) -> None:
            super().__init__(epochs, silent=True)  # no tqdm bar
            self.epochs = epochs
            self.seen = 0

        def on_epoch_end(self, epoch, logs=None) -> None:
            self.seen += 1
            progress.epoch(self.seen, self.epochs)

    callback.RasaTrainingLogger = train_utils.RasaTrainingLogger = EpochLines
    try:
        yield progress
    finally:
        callback.RasaTrainingLogger = train_utils.RasaTrainingLogger = original
        hooks.removeHandler(progress)
        hooks.setLevel(level)
        log.info(f"training: finished in {time.monotonic() - progress.started:.0f} s")
