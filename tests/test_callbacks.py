from __future__ import annotations

import numpy as np

from kerasvision.backend import keras
from kerasvision.training.callbacks import (
    BestCheckpoint,
    HistoryCSV,
    TimeBudget,
    read_history,
)
from kerasvision.training.optim import WarmupCosine


def _model():
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    model.compile("sgd", "categorical_crossentropy", metrics=["accuracy"])
    return model


def _data(n=8):
    x = np.random.default_rng(0).normal(size=(n, 2)).astype("float32")
    return x, keras.utils.to_categorical(np.arange(n) % 2, 2)


def test_history_drops_rows_of_epochs_trained_again(tmp_path):
    path = tmp_path / "history.csv"
    model = _model()
    x, y = _data()
    model.fit(x, y, epochs=3, verbose=0, callbacks=[HistoryCSV(path)])
    assert [r["epoch"] for r in read_history(path)] == [1, 2, 3]
    # A resumed run that restarts at epoch index 2 (the third epoch) rewrites it once.
    model.fit(x, y, initial_epoch=2, epochs=4, verbose=0, callbacks=[HistoryCSV(path)])
    rows = read_history(path)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert {"loss", "accuracy", "lr"} <= set(rows[0])


def test_best_checkpoint_writes_only_on_improvement(tmp_path):
    path = tmp_path / "best.keras"
    callback = BestCheckpoint(path, monitor="val_accuracy")
    callback.set_model(_model())
    callback.on_epoch_end(0, {"val_accuracy": 0.5})
    first = path.stat().st_mtime_ns
    callback.on_epoch_end(1, {"val_accuracy": 0.4})
    assert path.stat().st_mtime_ns == first
    callback.on_epoch_end(2, {"val_accuracy": 0.6})
    assert callback.best == 0.6
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind
    keras.models.load_model(path)  # loads with plain Keras


def test_time_budget_stops_and_shortens_the_schedule():
    now = [0.0]
    schedule = WarmupCosine(0.1, total_steps=100 * 5)
    budget = TimeBudget(
        minutes=1.0, epochs=100, steps_per_epoch=5, schedule=schedule, clock=lambda: now[0]
    )
    budget.set_model(_model())
    budget.on_train_begin()
    epoch = 0
    while not budget.model.stop_training:
        budget.on_epoch_begin(epoch)
        now[0] += 10.0  # every epoch takes 10 s
        budget.on_epoch_end(epoch)
        epoch += 1
    # 60 s hold six 10-second epochs; the cosine now ends after them.
    assert epoch == budget.planned == 6
    assert float(schedule.total_steps.numpy()) == 30


def test_time_budget_never_exceeds_the_epochs_asked_for():
    now = [0.0]
    budget = TimeBudget(minutes=60.0, epochs=3, steps_per_epoch=1, clock=lambda: now[0])
    budget.set_model(_model())
    budget.on_train_begin()
    for epoch in range(3):
        budget.on_epoch_begin(epoch)
        now[0] += 1.0
        budget.on_epoch_end(epoch)
    assert budget.planned == 3 and budget.model.stop_training
