import pytest

from scanner.core.adaptive import AdaptiveRate


def run_window(control, now, attempts, failures, limited=True):
    """Feed one window of attempts ending at `now`; return the last decision."""
    decision = None
    for i in range(attempts):
        decision = control.record(i < failures, now - 1 + i / attempts, limited=limited)
    return control.record(False, now, limited=limited) or decision


def test_slow_start_doubles_then_trouble_halves_then_additive_steps():
    control = AdaptiveRate(rate=100, minimum=10, maximum=2000, step=100, slow_start_window=1.0)
    rates = []
    now = 0.0
    for failures in (0, 0, 0, 50, 0, 0, 0):
        now += 1.0
        run_window(control, now, 100, failures)
        rates.append(control.rate)
    assert rates == [200, 400, 800, 400, 500, 600, 700]
    assert (control.increases, control.decreases) == (6, 1)


def test_never_above_maximum_nor_below_minimum():
    control = AdaptiveRate(rate=100, minimum=40, maximum=300, step=100)
    now = 0.0
    for _ in range(10):
        now += 1.0
        run_window(control, now, 100, 0)
    assert control.rate == 300
    for _ in range(10):
        now += 1.0
        run_window(control, now, 100, 100)
    assert control.rate == 40


def test_no_increase_when_the_limiter_is_not_what_holds_the_scan_back():
    control = AdaptiveRate(rate=100)
    run_window(control, 1.0, 100, 0, limited=False)
    assert control.rate == 100


def test_small_failure_ratio_is_tolerated_and_few_samples_decide_nothing():
    control = AdaptiveRate(rate=100, threshold=0.05, slow_start_window=1.0)
    run_window(control, 1.0, 100, 4)
    assert control.rate == 200
    quiet = AdaptiveRate(rate=100, min_samples=20)
    for second in range(1, 5):
        quiet.record(True, float(second), limited=True)
    assert quiet.rate == 100


def test_start_must_lie_between_minimum_and_maximum():
    with pytest.raises(ValueError):
        AdaptiveRate(rate=5000, maximum=2000)


def test_slow_start_waits_longer_than_a_loss_takes_to_show():
    # A timeout shows 250 ms or more after its query: doubling every quarter
    # second overshot Unbound's ip-ratelimit before the first halving.
    control = AdaptiveRate(rate=100, maximum=2000)
    now = 0.0
    for _ in range(30):
        now += 0.6 / 30
        control.record(False, now, limited=True)
    assert control.rate == 100  # no decision within 0.6 s
    assert control.slow_start_window >= 0.5


def test_increases_count_only_changes():
    control = AdaptiveRate(rate=1000, maximum=2000, slow_start_window=1.0)
    for second in range(1, 6):
        for i in range(30):
            control.record(False, second - 1 + i / 30, limited=True)
    assert control.rate == 2000 and control.increases == 1


def test_an_overshoot_cuts_to_what_got_through_not_just_half():
    # Sent at the rate (1,000 a second), 70% lost: a resolver taking about 300
    # q/s (Unbound's ip-ratelimit). Halving to 500 would overshoot again.
    control = AdaptiveRate(rate=1000, maximum=2000)
    run_window(control, 1.0, 1000, 700)
    assert 290 <= control.rate <= 310 and control.decreases == 1


def test_a_failing_window_below_the_rate_only_halves():
    # 100 attempts a second at a rate of 1,000: the rate was not what held the
    # scan back (the tail of a scan, a small target), so their few answers
    # say nothing of the resolver's capacity.
    control = AdaptiveRate(rate=1000, maximum=2000)
    run_window(control, 1.0, 100, 70)
    assert control.rate == 500
