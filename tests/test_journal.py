"""The resume journal's own reading and writing (the end-to-end resume tests are in test_resume)."""

import random

import pytest

from scanner.journal import Journal, JournalError, Positions


def test_positions_hold_exactly_what_was_added():
    rng = random.Random(5)
    size = 10_007
    chosen = set(rng.sample(range(size), 3_000))
    positions = Positions(size)
    for position in chosen:
        positions.add(position)
    positions.add(next(iter(chosen)))  # twice is once
    assert len(positions) == len(chosen)
    assert [p for p in range(size) if p in positions] == sorted(chosen)
    assert -1 not in positions and size not in positions
    for stride in range(1, 8):
        for offset in range(stride):
            want = sum(1 for p in chosen if p % stride == offset)
            assert positions.count_every(stride, offset) == want, (stride, offset)
    with pytest.raises(ValueError):
        positions.add(size)


def test_a_torn_line_is_cut_off_before_appending(tmp_path):
    path = str(tmp_path / "out.csv.journal")
    journal = Journal(path)
    journal.start("print", [10])
    journal.record([0, 1, 2], [40], ["pass", "pass", "timeout"])
    journal.close()
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"p":[3,4')  # SIGKILL in the middle of a line
    resumed = Journal(path)
    state = resumed.load("print", 100)
    assert sorted(p for p in range(100) if p in state.done) == [0, 1, 2]
    assert state.offsets == [40]
    assert state.statuses == {"pass": 2, "timeout": 1}  # the torn batch's rows are not counted
    resumed.resume()
    resumed.record([3, 4], [60], ["mismatch", "pass"])
    resumed.close()
    again = Journal(path).load("print", 100)
    assert sorted(p for p in range(100) if p in again.done) == [0, 1, 2, 3, 4]
    assert again.offsets == [60]
    assert again.statuses == {"pass": 3, "timeout": 1, "mismatch": 1}


def test_a_damaged_line_is_an_error_naming_it(tmp_path):
    path = tmp_path / "out.csv.journal"
    journal = Journal(str(path))
    journal.start("print", [10])
    journal.record([0], [20], ["pass"])
    journal.close()
    with path.open("a", encoding="utf-8") as handle:
        handle.write("not json\n")
    with pytest.raises(JournalError, match=r"journal:3: damaged"):
        Journal(str(path)).load("print", 10)
    path.write_text(path.read_text().replace("not json", '{"p":[99],"o":[30],"s":{}}'))
    with pytest.raises(JournalError, match=r"journal:3: damaged"):  # beyond the scan's size
        Journal(str(path)).load("print", 10)


@pytest.mark.parametrize("text", ["", "[1, 2]\n", '{"version": 2}\n', "plain text\n"])
def test_a_file_that_is_not_a_journal_is_refused(tmp_path, text):
    path = tmp_path / "out.csv.journal"
    path.write_text(text)
    with pytest.raises(JournalError, match="not a fcrdns journal"):
        Journal(str(path)).load("print", 10)
