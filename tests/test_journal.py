"""The resume journal's own reading and writing (the end-to-end resume tests are in test_resume)."""

import random
import zlib
from pathlib import Path

import pytest

from scanner.files.journal import Journal, JournalError, Positions, verify


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
    journal.start("print", [10], [0])
    journal.record([0, 1, 2], ["pass", "pass", "timeout"])
    journal.commit([40], [0])
    journal.close()
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"p":[3,4')  # SIGKILL in the middle of a line
    resumed = Journal(path)
    state = resumed.load("print", 100)
    assert sorted(p for p in range(100) if p in state.done) == [0, 1, 2]
    assert state.offsets == [40]
    assert state.statuses == {"pass": 2, "timeout": 1}  # the torn batch's rows are not counted
    resumed.resume()
    resumed.record([3, 4], ["mismatch", "pass"])
    resumed.commit([60], [0])
    resumed.close()
    again = Journal(path).load("print", 100)
    assert sorted(p for p in range(100) if p in again.done) == [0, 1, 2, 3, 4]
    assert again.offsets == [60]
    assert again.statuses == {"pass": 3, "timeout": 1, "mismatch": 1}


def test_a_damaged_line_is_an_error_naming_it(tmp_path):
    path = tmp_path / "out.csv.journal"
    journal = Journal(str(path))
    journal.start("print", [10], [0])
    journal.record([0], ["pass"])
    journal.commit([20], [0])
    journal.close()
    with path.open("a", encoding="utf-8") as handle:
        handle.write("not json\n")
    with pytest.raises(JournalError, match=r"journal:3: damaged"):
        Journal(str(path)).load("print", 10)
    path.write_text(path.read_text().replace("not json", '{"p":[99],"o":[30],"c":[0],"s":{}}'))
    with pytest.raises(JournalError, match=r"journal:3: damaged"):  # beyond the scan's size
        Journal(str(path)).load("print", 10)
    path.write_text(path.read_text().replace('"p":[99]', '"p":[0]'))
    with pytest.raises(JournalError, match=r"journal:3: position 0 journaled twice"):
        Journal(str(path)).load("print", 10)
    path.write_text(path.read_text().replace('"p":[0],"o":[30]', '"p":[1],"o":[15]'))
    with pytest.raises(JournalError, match=r"journal:3: an output smaller"):
        Journal(str(path)).load("print", 10)


def _staged(tmp_path, batches):
    """A journal and the .partial it describes, as a scan writes them: a 10-byte
    header, then each batch's bytes, committed one by one."""
    partial = tmp_path / "out.csv.partial"
    journal = Journal(str(tmp_path / "out.csv.journal"))
    data = b"ip,status\n"
    journal.start("print", [len(data)], [zlib.crc32(data)])
    for number, batch in enumerate(batches):
        journal.record([number], ["pass"])
        data += batch
        journal.commit([len(data)], [zlib.crc32(batch)])
    journal.close()
    partial.write_bytes(data)
    return partial, journal


def test_the_staged_rows_are_checked_against_the_journal_before_they_are_trusted(tmp_path):
    partial, journal = _staged(tmp_path, [b"198.18.0.1,pass\n", b"198.18.0.2,pass\n"])
    state = journal.load("print", 10)
    verify(state, {0: str(partial)})  # as written: trusted
    partial.write_bytes(partial.read_bytes() + b"198.18.0.3,pa")  # past the last commit: cut later
    verify(state, {0: str(partial)})
    whole = partial.read_bytes()
    partial.write_bytes(whole[:30])  # restored from an older copy: shorter than journaled
    with pytest.raises(JournalError, match=r"holds 30 bytes but the journal says 42"):
        verify(state, {0: str(partial)})
    partial.write_bytes(whole.replace(b"0.2,", b"0.9,"))  # edited
    with pytest.raises(JournalError, match=r"differs from what the journal says.*bytes 26 to 42"):
        verify(state, {0: str(partial)})
    partial.unlink()
    with pytest.raises(JournalError, match=r"out.csv.partial is missing"):
        verify(state, {0: str(partial)})


def test_a_journal_line_deleted_in_the_middle_is_found(tmp_path):
    partial, journal = _staged(tmp_path, [b"198.18.0.1,pass\n", b"198.18.0.2,pass\n", b"x\n"])
    lines = Path(journal.path).read_text().splitlines(keepends=True)
    Path(journal.path).write_text("".join(lines[:2] + lines[3:]))
    with pytest.raises(JournalError, match=r"differs from what the journal says"):
        verify(journal.load("print", 10), {0: str(partial)})


@pytest.mark.parametrize("text", ["", "[1, 2]\n", '{"version": 2}\n', "plain text\n"])
def test_a_file_that_is_not_a_journal_is_refused(tmp_path, text):
    path = tmp_path / "out.csv.journal"
    path.write_text(text)
    with pytest.raises(JournalError, match="not a fcrdns journal"):
        Journal(str(path)).load("print", 10)
