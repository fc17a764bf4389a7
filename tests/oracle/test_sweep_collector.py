"""The garbage collector is tuned for a sweep only where the process is ours (the command line, a
sweep's worker), and given back as it was; `run_sweep` called as a library never touches it."""

import gc

import pytest

from bp_oracle.sweep import collector
from bp_oracle.sweep import engine as V


def _state():
    return gc.get_threshold(), gc.get_freeze_count()


def _watching(monkeypatch):
    """The collector's state as each block of a sweep runs."""
    seen, real = [], V.verify_cases

    def watched(*args, **kwargs):
        seen.append(_state())
        return real(*args, **kwargs)
    monkeypatch.setattr(V, "verify_cases", watched)
    return seen


def test_verify_on_the_command_line_sweeps_with_the_collector_tuned_and_restores_it(run_cli, monkeypatch):
    seen = _watching(monkeypatch)
    before = _state()
    assert before[1] == 0  # nothing frozen in the test process, so the command may freeze
    code, out, _ = run_cli("verify", "--cases", "4", "--no-progress")
    assert code == 0 and "agree" in out
    assert seen and all(threshold[0] == collector.YOUNG_THRESHOLD and frozen > 0 for threshold, frozen in seen)
    assert _state() == before


def test_run_sweep_as_a_library_leaves_the_collector_alone(monkeypatch):
    seen = _watching(monkeypatch)
    before = _state()
    V.run_sweep(0, range(3), block=2)
    assert seen == [before, before] and _state() == before


def test_what_the_host_froze_stays_frozen_and_nothing_more_is():
    before = gc.get_threshold()
    held = [[] for _ in range(10)]  # containers the "host" freezes
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        with collector.collector_tuned_for_sweeping():
            assert gc.get_threshold()[0] == collector.YOUNG_THRESHOLD
            assert gc.get_freeze_count() == frozen
        assert gc.get_threshold() == before and gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
    del held


def test_the_context_restores_the_collector_when_the_sweep_raises():
    before = _state()
    try:
        with collector.collector_tuned_for_sweeping():
            assert _state() != before
            raise KeyError("a sweep that failed")
    except KeyError:
        pass
    assert _state() == before


@pytest.mark.slow
def test_a_sweeps_worker_process_tunes_its_own_collector():
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    before = _state()
    with ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=V._worker_init,
                             initargs=(V.SweepOptions(), {})) as pool:
        threshold, frozen = pool.submit(gc.get_threshold).result(), pool.submit(gc.get_freeze_count).result()
    assert threshold[0] == collector.YOUNG_THRESHOLD and frozen > 0
    assert _state() == before
