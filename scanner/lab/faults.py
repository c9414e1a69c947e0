"""How badly the lab server behaves: its faults, chosen per question and asking."""

from __future__ import annotations

from dataclasses import dataclass

RFC8020_BREAKS = ("", "nxdomain-ent", "noerror-all")


@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """How badly the server behaves. Fractions are of queries, 0..1."""

    latency: float = 0.0  # seconds added before every answer
    drop: float = 0.0  # UDP queries never answered
    servfail: float = 0.0  # queries answered SERVFAIL
    truncate: float = 0.0  # UDP answers sent empty with the TC bit
    seed: int = 1
    # Break RFC 8020, as some servers do: "nxdomain-ent" answers NXDOMAIN for
    # empty non-terminals (a walk would miss all below), "noerror-all" NOERROR
    # for names that do not exist (a walk would never end).
    rfc8020: str = ""

    def __post_init__(self) -> None:
        for name in ("drop", "servfail", "truncate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a fraction between 0 and 1, got {value}")
        if self.latency < 0:
            raise ValueError(f"latency must be >= 0, got {self.latency}")
        if self.rfc8020 not in RFC8020_BREAKS:
            raise ValueError(f"rfc8020: expected one of {', '.join(RFC8020_BREAKS[1:])}")
