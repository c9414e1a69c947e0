"""The progress display's one line, fitted to the terminal's width.

What matters most comes first and stays: how far (done/total and share),
how long it has run (elapsed, redrawn every second, so a scan that waits is
seen to wait), and what it is doing now (the phase: probing the resolvers,
asking name servers, retrying after SERVFAIL, writing the outputs). Then the
rate and the time left, then the verdicts so far under their own names, as
many whole ones as fit. A narrow terminal loses the tail, never half a word.

>>> progress_line(50, 200, 61.0, "scanning", {"pass": 40, "mismatch": 10}, 200)
'50/200 (25%) · 1:01 elapsed · scanning · 1 IPs/s, 3:03 left · pass 40 mismatch 10'
>>> progress_line(50, 200, 61.0, "scanning", {"pass": 40, "mismatch": 10}, 40)
'50/200 (25%) · 1:01 elapsed · scanning'
"""

from __future__ import annotations

from collections.abc import Mapping

SEPARATOR = " · "


def duration(seconds: float) -> str:
    """1:01, 1:02:03: minutes and seconds, hours when there are any."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _cut(text: str, room: int) -> str:
    if len(text) <= room:
        return text
    return text[: max(0, room - 1)].rstrip() + "…" if room > 1 else ""


def progress_line(
    done: int,
    total: int,
    elapsed: float,
    phase: str,
    counts: Mapping[str, int],
    width: int,
    *,
    rate: float | None = None,
) -> str:
    """The line for `width` columns (at most width - 1 characters: a terminal wraps
    on the last column). `rate`: rows per second, if measured better than done/elapsed."""
    room = max(1, width - 1)
    if not total:  # nothing counted yet (a walk, before its addresses are known): the phase says
        return _cut(SEPARATOR.join(filter(None, [f"{duration(elapsed)} elapsed", phase])), room)
    share = 100 * done // total
    parts = [f"{done:,}/{total:,} ({share}%)", f"{duration(elapsed)} elapsed"]
    line = SEPARATOR.join(parts)
    if len(line) > room:  # very narrow: the counts alone
        return _cut(parts[0], room)
    if phase:
        line = _cut(line + SEPARATOR + phase, room)
    speed = rate if rate is not None else (done / elapsed if elapsed > 0 else 0.0)
    if done < total and speed > 0:
        pace = f"{speed:,.0f} IPs/s, {duration((total - done) / speed)} left"
    else:
        pace = f"{speed:,.0f} IPs/s"
    if len(line) + len(SEPARATOR) + len(pace) <= room:
        line += SEPARATOR + pace
    verdicts = [f"{name} {count:,}" for name, count in counts.items() if count]
    if verdicts and len(line) + len(SEPARATOR) + len(verdicts[0]) <= room:
        line += SEPARATOR + verdicts[0]
        for verdict in verdicts[1:]:
            if len(line) + 1 + len(verdict) > room:
                break
            line += " " + verdict
    return line
