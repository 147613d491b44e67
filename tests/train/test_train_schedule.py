import math

import pytest
import torch

from irreps.train.schedule import LRSchedule


def _optimizer():
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)


def test_cosine_with_warmup():
    opt = _optimizer()
    sched = LRSchedule(opt, "cosine", lr=1.0, total_steps=12, warmup_steps=2, min_lr=0.1)
    rates = []
    for _ in range(12):
        rates.append(opt.param_groups[0]["lr"])
        sched.step()
    assert rates[0] == pytest.approx(0.5) and rates[1] == pytest.approx(1.0)
    # after warm-up: min + (max - min) (1 + cos(pi t)) / 2 with t = (step - 2) / 10
    for step in range(2, 12):
        t = (step - 2) / 10
        assert rates[step] == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * t)))
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)


def test_plateau_decays_after_patience_and_stops_at_min_lr():
    opt = _optimizer()
    sched = LRSchedule(opt, "plateau", lr=1.0, total_steps=100, factor=0.5, patience=2, min_lr=0.3)
    for loss in (1.0, 0.5, 0.6, 0.6):  # new best, new best, 2 bad epochs: not yet
        sched.end_epoch(loss)
    assert opt.param_groups[0]["lr"] == 1.0
    sched.end_epoch(0.7)  # third bad epoch > patience
    assert opt.param_groups[0]["lr"] == 0.5
    for _ in range(3):
        sched.end_epoch(0.7)
    assert opt.param_groups[0]["lr"] == 0.3  # floor


def test_state_dict_resumes_the_same_rates():
    a_opt, b_opt = _optimizer(), _optimizer()
    a = LRSchedule(a_opt, "plateau", lr=1.0, total_steps=10, warmup_steps=4, factor=0.5, patience=0)
    for loss in (1.0, 2.0, 3.0):
        a.step()
        a.end_epoch(loss)
    b = LRSchedule(b_opt, "plateau", lr=1.0, total_steps=10, warmup_steps=4, factor=0.5, patience=0)
    b.load_state_dict(a.state_dict())
    assert b_opt.param_groups[0]["lr"] == a_opt.param_groups[0]["lr"] == pytest.approx(0.25)


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown schedule"):
        LRSchedule(_optimizer(), "linear", lr=1.0, total_steps=1)


def test_cosine_over_time_follows_the_elapsed_seconds():
    """Warm-up by steps, then the cosine runs from the time the warm-up ended to total_seconds."""
    opt = _optimizer()
    sched = LRSchedule(opt, "cosine", lr=1.0, total_steps=3, warmup_steps=2, min_lr=0.1, total_seconds=100.0)
    sched.step(elapsed=5.0)
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0)  # second warm-up step: full rate
    sched.step(elapsed=20.0)  # warm-up ends at 20 s; the decay spans the remaining 80 s
    assert sched.warm_end == 20.0 and opt.param_groups[0]["lr"] == pytest.approx(1.0)
    for elapsed in (30.0, 60.0, 99.0):  # more steps than total_steps: only the time counts
        sched.step(elapsed=elapsed)
        t = (elapsed - 20.0) / 80.0
        assert opt.param_groups[0]["lr"] == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * t)))
    sched.step(elapsed=130.0)
    assert sched.progress() == 1.0 and opt.param_groups[0]["lr"] == pytest.approx(0.1)
    resumed_opt = _optimizer()
    resumed = LRSchedule(resumed_opt, "cosine", lr=1.0, total_steps=3, warmup_steps=2, min_lr=0.1, total_seconds=100.0)
    state = {**sched.state_dict(), "elapsed": 60.0}
    resumed.load_state_dict(state)
    assert resumed_opt.param_groups[0]["lr"] == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * 0.5)))


def test_cosine_over_time_needs_elapsed_and_a_cosine():
    sched = LRSchedule(_optimizer(), "cosine", lr=1.0, total_steps=3, total_seconds=10.0)
    with pytest.raises(ValueError, match="needs the elapsed seconds"):
        sched.step()
    with pytest.raises(ValueError, match="needs a cosine schedule"):
        LRSchedule(_optimizer(), "plateau", lr=1.0, total_steps=3, total_seconds=10.0)
