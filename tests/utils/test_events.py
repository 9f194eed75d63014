"""EventStorage and the console / JSON / TensorBoard writers."""

import json
import logging

import pytest

from maskformer.utils.events import (
    CommonMetricPrinter,
    EventStorage,
    JSONWriter,
    TensorboardXWriter,
    get_event_storage,
)


def test_storage_histories_and_smoothing():
    with pytest.raises(RuntimeError, match="inside a 'with EventStorage"):
        get_event_storage()
    with EventStorage(start_iter=5) as storage:
        assert get_event_storage() is storage
        for value in (1.0, 9.0, 2.0):
            storage.put_scalar("loss", value)
            storage.put_scalar("lr", value / 10, smoothing_hint=False)
            storage.step()
        assert storage.iter == 8
        assert storage.history("loss").values() == [(1.0, 5), (9.0, 6), (2.0, 7)]
        assert storage.history("loss").global_avg() == 4.0
        assert storage.latest_with_smoothing_hint(3) == {"loss": (2.0, 7), "lr": (0.2, 7)}
        with pytest.raises(KeyError, match="No history for metric 'los'"):
            storage.history("los")
        with pytest.raises(ValueError, match="different smoothing hints"):
            storage.put_scalar("lr", 1.0)


def test_json_writer_one_line_per_new_iteration(tmp_path):
    path = tmp_path / "metrics.json"
    writer = JSONWriter(str(path))
    with EventStorage() as storage:
        storage.put_scalars(a=1.0, b=2.0)
        writer.write()
        writer.write()  # nothing new: no line
        storage.step()
        storage.put_scalar("a", 3.0)
        writer.write()
    writer.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == [{"iteration": 0, "a": 1.0, "b": 2.0}, {"iteration": 1, "a": 2.0}]  # a: median of [1, 3]


def test_console_printer_reports_training_state(caplog):
    caplog.set_level(logging.INFO, logger="maskformer.utils.events")
    printer = CommonMetricPrinter(max_iter=100)
    printer.logger.addHandler(caplog.handler)
    try:
        with EventStorage(start_iter=9) as storage:
            storage.put_scalars(total_loss=1.5, loss_ce=0.5, time=0.25, data_time=0.01)
            storage.put_scalar("lr", 1e-4, smoothing_hint=False)
            printer.write()
    finally:
        printer.logger.removeHandler(caplog.handler)
    line = caplog.records[-1].getMessage()
    for part in (
        "eta: 0:00:22",
        "iter: 9",
        "total_loss: 1.5",
        "loss_ce: 0.5",
        "time: 0.2500",
        "lr: 0.0001",
        "max_mem",
    ):
        assert part in line
    assert caplog.records[-1].levelno == logging.INFO


def test_tensorboard_writer(tmp_path):
    writer = TensorboardXWriter(str(tmp_path))
    with EventStorage() as storage:
        storage.put_scalar("loss", 1.0)
        writer.write()
    writer.close()
    assert any(p.name.startswith("events.out.tfevents") for p in tmp_path.iterdir())


def _console_line(caplog, printer: CommonMetricPrinter, fill) -> str:
    caplog.set_level(logging.INFO, logger="maskformer.utils.events")
    printer.logger.addHandler(caplog.handler)
    try:
        with EventStorage(start_iter=0) as storage:
            fill(storage)
            printer.write()
    finally:
        printer.logger.removeHandler(caplog.handler)
    return caplog.records[-1].getMessage()


def test_eta_is_a_trimmed_mean_plus_the_remaining_evaluations(caplog):
    def fill(storage):
        for seconds in [1.0] * 18 + [100.0, 0.0]:  # one checkpoint save, one cache hit: trimmed
            storage.put_scalars(time=seconds, total_loss=1.0)
            storage.step()
        storage.iter = 19

    # 80 iterations left at 1 s; evaluations after iterations 50 and 100 (the final one).
    line = _console_line(caplog, CommonMetricPrinter(100, ims_per_batch=4, eval_period=50), fill)
    assert "eta: 0:01:20 + 2 evaluations" in line
    assert "images/s: 4 " in line

    def fill_with_eval(storage):
        fill(storage)
        storage.put_scalar("eval_time", 30.0, smoothing_hint=False)

    line = _console_line(caplog, CommonMetricPrinter(100, eval_period=50), fill_with_eval)
    assert "eta: 0:02:20 " in line  # 80 s + 2 x 30 s


def test_console_line_sums_auxiliary_losses(caplog):
    def fill(storage):
        storage.put_scalars(total_loss=6.0, loss_ce=1.0, loss_ce_0=2.0, loss_mask_0=0.5, loss_ce_1=1.5)

    line = _console_line(caplog, CommonMetricPrinter(10), fill)
    assert "total_loss: 6  loss_ce: 1  loss_aux: 4 (3 terms)" in line
    assert "loss_ce_0" not in line


def test_resumed_writers_replace_the_interrupted_tail(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("".join(json.dumps({"iteration": i, "a": 0.0}) + "\n" for i in range(6)))
    writer = JSONWriter(str(path))
    with EventStorage(start_iter=4) as storage:  # resumed from the checkpoint of iteration 3
        storage.put_scalar("a", 1.0)
        writer.write()
    writer.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(m["iteration"], m["a"]) for m in lines] == [(0, 0.0), (1, 0.0), (2, 0.0), (3, 0.0), (4, 1.0)]


def test_resumed_tensorboard_run_hides_the_interrupted_tail(tmp_path, monkeypatch):
    import time

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    writer = TensorboardXWriter(str(tmp_path))
    with EventStorage() as storage:
        for value in range(6):
            storage.put_scalar("a", float(value), smoothing_hint=False)
            writer.write()
            storage.step()
    writer.close()
    # A resumed run is a later process: its event file is named (and read) after the first one's
    # (within one process and one second, the names would sort by a per-process counter).
    later = time.time() + 10
    monkeypatch.setattr(time, "time", lambda: later)
    writer = TensorboardXWriter(str(tmp_path))  # resumed from the checkpoint of iteration 2
    with EventStorage(start_iter=3) as storage:
        storage.put_scalar("a", 30.0, smoothing_hint=False)
        writer.write()
    writer.close()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("a")] == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 30.0)]
