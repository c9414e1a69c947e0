from scanner.health import ResolverHealth


def fail(health, now, times=1):
    for _ in range(times):
        assert health.usable(now)
        health.started()
        health.finished(True, now)


def test_benched_after_consecutive_faults_then_probed():
    health = ResolverHealth(bench_after=3, cooldown=2.0)
    fail(health, 0.0, 2)
    health.started()
    health.finished(False, 0.0)  # an answer resets the count
    fail(health, 0.0, 2)
    assert health.state == "healthy"
    fail(health, 0.0)
    assert (health.state, health.bench_until, health.times_benched) == ("benched", 2.0, 1)
    assert not health.usable(1.9)
    assert health.usable(2.0) and health.state == "probing"
    health.started()
    assert not health.usable(2.0)  # one probe at a time
    health.finished(False, 2.1)
    assert health.state == "healthy" and health.usable(2.1)


def test_failed_probes_double_the_cooldown_up_to_the_cap():
    health = ResolverHealth(bench_after=1, cooldown=2.0, max_cooldown=5.0)
    fail(health, 0.0)
    ends = [health.bench_until]
    for _ in range(3):
        now = health.bench_until
        fail(health, now)
        ends.append(health.bench_until - now)
    assert ends == [2.0, 4.0, 5.0, 5.0]
    assert health.times_benched == 4


def test_late_faults_from_before_the_bench_do_not_extend_it():
    health = ResolverHealth(bench_after=2, cooldown=2.0)
    for _ in range(5):
        health.started()
    health.finished(True, 0.0)
    health.finished(True, 0.0)
    assert health.state == "benched"
    health.finished(True, 0.5)
    health.finished(True, 0.6)
    assert health.bench_until == 2.0 and health.times_benched == 1
