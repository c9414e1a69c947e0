from scanner.core.health import ResolverHealth


def fail(health, now, times=1, check_answers=False):
    """Attempts that time out; when the health asks for a check, it gets `check_answers`."""
    for _ in range(times):
        assert health.usable(now)
        health.started()
        if health.finished(True, now):
            health.checked(check_answers, now)


def test_benched_after_consecutive_faults_then_probed():
    health = ResolverHealth(bench_after=3, silence=0.0, cooldown=2.0)
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
    health = ResolverHealth(bench_after=1, silence=0.0, cooldown=2.0, max_cooldown=5.0)
    fail(health, 0.0)
    ends = [health.bench_until]
    for _ in range(3):
        now = health.bench_until
        fail(health, now)
        ends.append(health.bench_until - now)
    assert ends == [2.0, 4.0, 5.0, 5.0]
    assert health.times_benched == 4


def test_late_faults_from_before_the_bench_do_not_extend_it():
    health = ResolverHealth(bench_after=2, silence=0.0, cooldown=2.0)
    for _ in range(5):
        health.started()
    assert health.finished(True, 0.0) is False
    assert health.finished(True, 0.0) is True
    health.checked(False, 0.0)
    assert health.state == "benched"
    assert health.finished(True, 0.5) is False
    assert health.finished(True, 0.6) is False
    assert health.bench_until == 2.0 and health.times_benched == 1


def test_a_burst_of_timeouts_between_answers_is_not_a_dead_resolver():
    # Answers dropped by a full socket buffer time out together: fifty faults
    # in the same millisecond, with answers just before and just after.
    health = ResolverHealth(bench_after=20, silence=1.0)
    for second in range(10):
        now = float(second)
        health.started()
        health.finished(False, now)
        fail(health, now + 0.25, 50)
        assert health.state == "healthy"
    assert health.times_benched == 0 and health.faults == 500


def test_random_loss_never_benches():
    health = ResolverHealth(bench_after=20, silence=1.0)
    now = 0.0
    for attempt in range(100_000):
        now += 0.001
        health.started()
        health.finished(attempt % 50 == 0, now)  # 2% lost
    assert health.times_benched == 0


def test_a_silent_resolver_is_benched_once_it_has_been_silent_long_enough():
    health = ResolverHealth(bench_after=3, silence=1.0, cooldown=2.0)
    health.started()
    health.finished(False, 0.0)
    fail(health, 0.5, 10)  # many faults, but silent for less than a second
    assert health.state == "healthy"
    fail(health, 1.4)
    assert health.state == "healthy"  # silent since the first fault, at 0.5
    fail(health, 1.5)
    assert health.state == "benched" and health.bench_until == 3.5


def test_a_resolver_that_still_answers_a_known_question_is_not_benched():
    # At the end of a scan, only names whose queries are dropped may be left:
    # the resolver is silent to those, but answers what it answered before.
    health = ResolverHealth(bench_after=3, silence=1.0)
    health.started()
    health.finished(False, 0.0)
    fail(health, 2.0, 50, check_answers=True)
    assert health.state == "healthy" and health.times_benched == 0
    assert not health.checking


def test_one_check_at_a_time():
    health = ResolverHealth(bench_after=1, silence=0.0)
    health.started()
    assert health.finished(True, 0.0) is True
    for _ in range(5):
        health.started()
        assert health.finished(True, 0.1) is False  # the check is under way
    health.checked(False, 0.2)
    assert health.state == "benched" and health.times_benched == 1
