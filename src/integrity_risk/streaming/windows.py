"""The window sets of the real-time counters: one Feast view and one streaming query each.

The counters themselves are SQL, in ``include/hql/features/_account_windows.hql``; the
streaming job and the batch recomputation both render it, so the two cannot drift apart.

The stream keeps one state for every window set: each account's counters per minute
(:data:`BUCKET`), whose sums make any window's. An event updates one bucket, not each of
the windows it falls in (5 of the 5-minute ones, 12 of the hourly ones).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

#: The counters of a window set, without the set's suffix, in the order the SQL writes them.
COUNTERS = (
    "events",
    "login_fails",
    "payment_attempts",
    "payment_fails",
    "payment_amount_sum",
    "follows",
    "likes",
    "distinct_ips",
    "distinct_devices",
    "link_posts",
)
#: The counters a window adds up from its buckets' (the rest: the amount, exact until
#: rounded once, and the distinct counts, unions of the buckets' sets).
ADDITIVE_COUNTERS = ("events", "login_fails", "payment_attempts", "payment_fails", "follows", "likes", "link_posts")
#: The distinct counters and the buckets' sets they count.
DISTINCT_SETS = {"distinct_ips": "ips", "distinct_devices": "devices"}

#: The stream's unit of state: an account's counters over one minute of event time.
BUCKET = dt.timedelta(minutes=1)
#: How late (in event time, behind the newest event seen) an event may arrive and still be
#: counted by the stream; later ones are counted by batch only.
WATERMARK = dt.timedelta(minutes=2)


@dataclass(frozen=True)
class WindowSet:
    """Sliding windows of ``length`` every ``slide``, closed once the watermark passes their end.

    :param name: the suffix of the counters and of the view, e.g. ``5m``.
    """

    name: str
    length: dt.timedelta
    slide: dt.timedelta

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9a-z]+", self.name):
            raise ValueError(f"window set name {self.name!r} must be lowercase letters and digits")
        for field in ("length", "slide"):
            value = getattr(self, field)
            if value.total_seconds() <= 0 or value.total_seconds() != int(value.total_seconds()):
                raise ValueError(f"window set {self.name}: {field} must be a positive whole number of seconds")
        if self.length.total_seconds() % self.slide.total_seconds():
            raise ValueError(f"window set {self.name}: the length must be a multiple of the slide")
        if self.slide.total_seconds() % BUCKET.total_seconds():
            raise ValueError(f"window set {self.name}: the slide must be a multiple of {BUCKET} (the stream's bucket)")

    @property
    def view(self) -> str:
        """The Feast feature view and the batch table ``features.<view>``."""
        return f"account_realtime_{self.name}"

    @property
    def push_source(self) -> str:
        return f"{self.view}_push"

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(f"{counter}_{self.name}" for counter in COUNTERS)

    @property
    def length_seconds(self) -> int:
        return int(self.length.total_seconds())

    @property
    def length_micros(self) -> int:
        return self.length_seconds * 1_000_000

    @property
    def slide_micros(self) -> int:
        return int(self.slide.total_seconds()) * 1_000_000

    @property
    def slides(self) -> int:
        """Slides in a window: 5 for 5-minute windows every minute."""
        return self.length // self.slide


WINDOW_SETS = (
    WindowSet("5m", dt.timedelta(minutes=5), dt.timedelta(minutes=1)),
    WindowSet("1h", dt.timedelta(hours=1), dt.timedelta(minutes=5)),
)


def window_set(name: str) -> WindowSet:
    """The window set called ``name``."""
    for candidate in WINDOW_SETS:
        if candidate.name == name:
            return candidate
    raise ValueError(f"no window set {name!r}; there are {', '.join(w.name for w in WINDOW_SETS)}")


WINDOW_SET_NAMES = tuple(w.name for w in WINDOW_SETS)
