"""The callbacks every training stage uses: early stopping and best checkpoints on a validation
metric, `BackupAndRestore` (a killed run resumes mid-epoch), a resume report and TensorBoard."""

from __future__ import annotations

from pathlib import Path

import tf_keras as keras

from tfrec.core.log import echo


class ResumeReporter(keras.callbacks.Callback):
    """Says whether `BackupAndRestore` (placed before it) restored a killed run, and where from."""

    def __init__(self, stage: str):
        super().__init__()
        self.stage = stage
        self.resumed_from: tuple[int, int] | None = None

    def on_train_begin(self, logs=None):
        state = getattr(self.model, "_training_state", None)
        if state is None:
            return
        epoch = int(state._ckpt_saved_epoch.numpy())
        batch = int(state._ckpt_saved_batch.numpy())
        if epoch >= 0:
            self.resumed_from = (epoch, batch)
            echo(f"[{self.stage}] resumed from backup: epoch {epoch + 1}, after batch {batch + 1}")


def training_callbacks(
    out_dir: Path,
    monitor: str,
    patience: int,
    backup_every_steps: int,
    stage: str,
    extra_first: list | None = None,
    extra_last: list | None = None,
) -> list[keras.callbacks.Callback]:
    """The callbacks every training stage uses: `extra_first` (callbacks that add `monitor` to
    the epoch logs run before the others read it), `EarlyStopping` and `ModelCheckpoint`
    (`out_dir/checkpoints/best`) on `monitor` (higher is better, best weights restored),
    `BackupAndRestore` (`out_dir/backup`, every `backup_every_steps` batches), a resume report
    and `TensorBoard` (`out_dir/logs`), then `extra_last` (callbacks that act after the best
    weights were restored)."""
    return [
        *(extra_first or []),
        keras.callbacks.EarlyStopping(
            monitor=monitor, mode="max", patience=patience, restore_best_weights=True, verbose=1
        ),
        keras.callbacks.ModelCheckpoint(
            str(out_dir / "checkpoints" / "best"),
            monitor=monitor,
            mode="max",
            save_best_only=True,
            save_weights_only=True,
        ),
        keras.callbacks.BackupAndRestore(str(out_dir / "backup"), save_freq=backup_every_steps),
        ResumeReporter(stage),
        keras.callbacks.TensorBoard(str(out_dir / "logs"), update_freq="epoch"),
        *(extra_last or []),
    ]
