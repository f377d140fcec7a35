"""Keras callbacks of the trainer that Keras does not ship.

Imported only by the trainer process: it imports Keras at the top.
"""

from __future__ import annotations

import keras


class RankingEarlyStopping(keras.callbacks.Callback):
    """Stop when the validation ranking metric stops improving; restore the best epoch's weights.

    Keras' ``EarlyStopping`` fits neither of the two cases that a small validation split of
    a risk head produces:

    - PR-AUC reaches its ceiling (1.0 on tens of rows) in the first epoch and can only tie
      after that, while the fit goes on improving. A strict ``>`` stops at 1 + patience
      and restores the underfit first epoch.
    - Counting a tie with the *latest* best as an improvement (the earlier fix) lets a slow
      decline, each epoch within the tolerance of the one before, run forever, and restores
      the last, worst weights.

    So the best value is the highest seen and never lowered. An epoch within ``tolerance``
    of it is a tie: training goes on. Among the tied epochs the weights kept are those of
    the lowest ``tiebreak`` (the validation loss): the best-fitted model that ranks as well
    as the best. An epoch below ``best - tolerance`` counts towards ``patience``.

    :param monitor: the ranking metric in the epoch logs, higher is better (``val_<risk>_pr_auc``).
    :param tiebreak: the log key that decides between tied epochs, lower is better.
    :param patience: epochs below the best's tolerance before training stops.
    :param tolerance: how far below the best still ties; Keras' AUC is float32, so a
        "1.0000" epoch may read 0.99999994.
    """

    def __init__(self, monitor: str, *, tiebreak: str = "val_loss", patience: int = 3, tolerance: float = 1e-4) -> None:
        super().__init__()
        self.monitor = monitor
        self.tiebreak = tiebreak
        self.patience = patience
        self.tolerance = tolerance

    def on_train_begin(self, logs=None):
        self.best = None
        self.best_tiebreak = float("inf")
        self.best_weights = None
        self.best_epoch = None
        self.wait = 0
        self.stopped_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        current = logs.get(self.monitor)
        if current is None:
            raise KeyError(f"early stopping watches {self.monitor!r}, which the epoch logs lack: {sorted(logs)}")
        current = float(current)
        loss = float(logs.get(self.tiebreak, float("inf")))
        if self.best is None or current > self.best + self.tolerance:
            self.best, self.wait = current, 0
            self._keep(epoch, loss)
        elif current >= self.best - self.tolerance:
            self.best, self.wait = max(self.best, current), 0
            if loss < self.best_tiebreak:
                self._keep(epoch, loss)
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)

    def _keep(self, epoch: int, loss: float) -> None:
        self.best_epoch, self.best_tiebreak = epoch, loss
        self.best_weights = self.model.get_weights()
