"""The retry layer's policy: how often and how soon to ask again, which failure a row shows."""

from __future__ import annotations

import random
from dataclasses import dataclass

from scanner.core.status import Outcome

# Outcomes that tell the adaptive rate the resolvers are struggling.
STRAIN = frozenset({Outcome.TIMEOUT, Outcome.SERVFAIL, Outcome.REFUSED, Outcome.NETWORK_ERROR})
# Of those, the ones that are answers: told to the adaptive rate only once the
# same question got through on a later try (see ResolverPool.lookup).
REFUSALS = frozenset({Outcome.SERVFAIL, Outcome.REFUSED})

# When every attempt failed, the verdict reports the most informative failure
# seen, not merely the last: a SERVFAIL says a server tried and the zone is
# broken, which a later timeout (a lost packet, a dead second resolver) does not
# contradict. Higher is more informative.
FAILURE_RANK: dict[Outcome, int] = {
    Outcome.SERVFAIL: 4,
    Outcome.REFUSED: 3,
    Outcome.BAD_RESPONSE: 2,
    Outcome.TIMEOUT: 1,
    Outcome.NETWORK_ERROR: 0,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    retries: int = 5  # attempts after the first
    # Ceiling of the first back-off, in seconds. Resolvers that throttle (Unbound's
    # ratelimit, public resolvers) answer SERVFAIL or drop for a second or more, so
    # five retries should span several seconds: ceilings 0.25, 0.5, 1, 2, 4.
    backoff: float = 0.25
    max_backoff: float = 8.0

    def delay(self, retry: int, rng: random.Random) -> float:
        """Uniform in [ceiling/2, ceiling], ceiling = min(max_backoff, backoff * 2^(retry-1)).

        Not full jitter (from 0): a resolver that throttles refuses for a second
        or more, and retries that may come at once tend to land in the same
        refusal. Measured through Unbound's `ratelimit` (SERVFAIL above 300
        queries/s), with full jitter about 50 of 2,304 addresses needed 4 or 5
        retries and now and then one ran out of attempts; with the lower half
        cut, about 13 (7 runs), and fewer retries in all.
        """
        ceiling = min(self.max_backoff, self.backoff * 2 ** (retry - 1))
        return rng.uniform(ceiling / 2, ceiling)


# REFUSED is an answer: a resolver that does not serve us, or an authoritative
# server (a legitimate --resolver) for a name outside its zones, says it again
# and again. Asked once more (another resolver, if there are several), then
# the row says `refused`; five retries with back-off made a range of which an
# authoritative server serves half crawl.
REFUSED_RETRIES = 1
# How often a health check asks its known question before the resolver counts as silent.
CHECK_TRIES = 3

# Every resolver benched and none has answered anything for this long: the
# scan stops (exit 3, outputs resumable) instead of crawling on. Long enough
# to ride out a resolver's restart; a lost path is not coming back sooner.
GIVE_UP_AFTER = 60.0
