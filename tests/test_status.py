from scanner.core.status import ANSWERS, FAILURE_STATUS, TRANSIENT, Outcome, Status


def test_every_status_is_in_the_transient_table():
    assert set(TRANSIENT) == set(Status)


def test_answers_are_final_and_failures_transient():
    final = {Status.PASS, Status.MISMATCH, Status.NO_PTR, Status.PTR_NODATA, Status.NO_FORWARD}
    assert {s for s in Status if not TRANSIENT[s]} == final


def test_every_outcome_is_an_answer_or_maps_to_a_transient_status():
    for outcome in Outcome:
        assert (outcome in ANSWERS) != (outcome in FAILURE_STATUS), outcome
    for status in FAILURE_STATUS.values():
        assert TRANSIENT[status]
