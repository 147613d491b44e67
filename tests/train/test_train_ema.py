import pytest
import torch

from irreps.train.ema import ExponentialMovingAverage


def _model():
    torch.manual_seed(0)
    return torch.nn.Linear(3, 2).double()


def test_updates_follow_the_formula():
    model = _model()
    ema = ExponentialMovingAverage(model, decay=0.9)
    start = model.weight.detach().clone()
    expected = start.clone()
    for n in range(30):
        with torch.no_grad():
            model.weight.add_(1.0)
        d = min(0.9, (1 + n) / (10 + n))
        assert ema.effective_decay() == pytest.approx(d)
        expected = d * expected + (1 - d) * model.weight.detach()
        ema.update(model)
    torch.testing.assert_close(ema.shadow["weight"], expected, rtol=0, atol=1e-12)
    assert ema.num_updates == 30


def test_swap_restores_the_raw_weights():
    model = _model()
    ema = ExponentialMovingAverage(model, decay=0.5)
    with torch.no_grad():
        model.bias.fill_(4.0)
    ema.update(model)  # effective decay 0.1
    raw = model.bias.detach().clone()
    with ema.swapped_into(model):
        torch.testing.assert_close(model.bias.detach(), ema.shadow["bias"])
        assert not torch.equal(model.bias.detach(), raw)
    assert torch.equal(model.bias.detach(), raw)


def test_state_round_trip_and_mismatch():
    model = _model()
    ema = ExponentialMovingAverage(model, decay=0.99)
    ema.update(model)
    other = ExponentialMovingAverage(_model(), decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.decay == 0.99 and other.num_updates == 1
    with pytest.raises(ValueError, match="does not match"):
        ExponentialMovingAverage(torch.nn.Linear(2, 2), 0.9).load_state_dict({"decay": 0.9, "num_updates": 0, "shadow": {}})
    with pytest.raises(ValueError, match="decay"):
        ExponentialMovingAverage(model, 1.0)
