"""The knobs of the synthetic world and the fixed vocabularies of the upstream tables."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

RISK_TYPES = ("abusive_account", "fake_engagement", "spam_redirect", "scraping", "fraud")
EVENT_TYPES = (
    "login",
    "view",
    "like",
    "follow",
    "comment",
    "share",
    "post",
    "message",
    "click_link",
    "api_request",
    "payment_attempt",
)
LABEL_SOURCES = ("reviewer", "appeal", "user_report", "chargeback")
# Each kind of malformed upstream row the generator can inject; tests of the extract
# switch them on one at a time.
DIRTY_KINDS = (
    "duplicate",
    "null_account",
    "null_time",
    "null_country",
    "out_of_day",
    "bad_amount",
    "unknown_event_type",
    "oversized",
)
# Upstream failures a day can suffer (``WorldConfig.outages``): what a health gate must
# stop. ``missing_event_type:<type>`` takes one of EVENT_TYPES after the colon.
OUTAGE_KINDS = ("missing_event_type", "half_loaded", "duplicated_load")
# Ground-truth class of an account: benign, or the family it attacks with.
TRUTH_CLASSES = ("benign",) + RISK_TYPES

DEFAULT_ATTACK_SHARES = {
    "abusive_account": 0.03,
    "fake_engagement": 0.03,
    "spam_redirect": 0.02,
    "scraping": 0.01,
    "fraud": 0.02,
}


@dataclass(frozen=True)
class WorldConfig:
    """Everything that decides a synthetic world; the same config gives the same bytes.

    :param seed: seed of every random stream.
    :param start_ds: first day (``YYYY-MM-DD``, UTC) of the generated partitions.
    :param days: how many consecutive days to generate.
    :param n_accounts: accounts existing at the end of the last day (attackers included);
        about 5% of them, and most attackers, sign up during the period.
    :param attack_shares: share of ``n_accounts`` in each attack family (keys from ``RISK_TYPES``).
    :param drift: how fast attackers adapt, per week: at ``drift * days_since_start / 7``
        (capped at 1) they run at about half their starting rate, mostly drop headless user
        agents and datacenter IPs, mix in more benign actions and rotate to new spam domains.
    :param cutover_ds: the day (``YYYY-MM-DD``, after the first day and inside the period) from
        which the ``cutover_families`` switch abruptly to their fully adapted behaviour, on top
        of the gradual ``drift``: card testers try fewer, larger payments from their own
        country, bulk accounts leave their device farms, rings and card testers slow their
        bursts, spammers hide behind shorteners, scrapers drop headless agents for residential
        IPs. Only how attackers behave changes: their volumes keep following ``drift``, so
        the upstream volume per event type stays in its ordinary range. ``None``: no cut-over.
    :param cutover_families: the families that adapt at ``cutover_ds`` (default all five).
    :param outages: ``{ds: kind}`` upstream failures of ``raw.user_events`` on those days:
        ``missing_event_type:<type>`` (no row of that event type), ``half_loaded`` (only the
        first half of the day's rows, as a load stopped midway) or ``duplicated_load`` (every
        row of the day twice, the same ``event_id``). Applied after the dirty rows; the
        population, labels and ground truth do not change.
    :param events_per_account: mean daily events of an ordinary benign account (activity
        is heavy-tailed; roughly 60% of accounts are active on a given day).
    :param benign_lookalike_share: share of benign accounts with one trait that resembles an
        attack family (power users, link-posting small businesses, failing cards, shared
        family devices, VPN users).
    :param dirty_share: share of user_events rows (of the clean rows of a day) made dirty.
    :param dirty_kinds: which kinds of dirty rows to inject (from ``DIRTY_KINDS``); the dirty
        rows are split evenly among them.
    :param geo_unknown_rate: share of clean events whose IP has no geolocation (NULL
        country); upstream documents it, so it is not counted as dirt.
    :param label_rate: share of attackers that ever get a confirmed label.
    :param label_delay_days: (min, max) days between the start of the abuse and its label.
    :param label_noise: share of benign accounts wrongly labelled abusive (user reports).
    :param appeal_rate: share of wrong positive labels later reversed by an appeal (true
        positives are reversed at a tenth of this rate).
    :param clear_rate: share of benign accounts that a reviewer looks at and clears (label 0).
    """

    seed: int = 7
    start_ds: str = "2026-03-01"
    days: int = 7
    n_accounts: int = 4000
    attack_shares: dict = field(default_factory=lambda: dict(DEFAULT_ATTACK_SHARES))
    drift: float = 0.3
    cutover_ds: str | None = None
    cutover_families: tuple = RISK_TYPES
    outages: dict = field(default_factory=dict)
    events_per_account: float = 20.0
    benign_lookalike_share: float = 0.15
    dirty_share: float = 0.002
    dirty_kinds: tuple = DIRTY_KINDS
    geo_unknown_rate: float = 0.002
    label_rate: float = 0.5
    label_delay_days: tuple = (1, 10)
    label_noise: float = 0.004
    appeal_rate: float = 0.5
    clear_rate: float = 0.02

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise ValueError("invalid WorldConfig: " + "; ".join(problems))
        # Normalise containers so equal configs compare and key alike.
        object.__setattr__(
            self, "attack_shares", {k: float(self.attack_shares[k]) for k in RISK_TYPES if k in self.attack_shares}
        )
        object.__setattr__(self, "dirty_kinds", tuple(self.dirty_kinds))
        families = (self.cutover_families,) if isinstance(self.cutover_families, str) else self.cutover_families
        object.__setattr__(self, "cutover_families", tuple(f for f in RISK_TYPES if f in families))
        object.__setattr__(self, "outages", {ds: self.outages[ds] for ds in sorted(self.outages)})
        object.__setattr__(self, "label_delay_days", tuple(int(x) for x in self.label_delay_days))

    def _problems(self):
        try:
            dt.date.fromisoformat(self.start_ds)
            if len(self.start_ds) != 10:
                raise ValueError
        except (TypeError, ValueError):
            yield f"start_ds must look like YYYY-MM-DD, got {self.start_ds!r}"
        if not isinstance(self.days, int) or self.days < 1:
            yield f"days must be an integer >= 1, got {self.days!r}"
        if not isinstance(self.n_accounts, int) or self.n_accounts < 100:
            yield f"n_accounts must be an integer >= 100, got {self.n_accounts!r}"
        unknown = set(self.attack_shares) - set(RISK_TYPES)
        if unknown:
            yield f"attack_shares has unknown families {sorted(unknown)}; expected some of {RISK_TYPES}"
        shares = list(self.attack_shares.values())
        if any(not 0 <= s <= 1 for s in shares) or sum(shares) > 0.5:
            yield f"attack_shares must each be in [0, 1] and sum to at most 0.5, got {self.attack_shares}"
        if not 0 <= self.drift <= 10:
            yield f"drift must be in [0, 10], got {self.drift}"
        if not 0 < self.events_per_account <= 10_000:
            yield f"events_per_account must be in (0, 10000], got {self.events_per_account}"
        if not 0 <= self.dirty_share <= 0.5:
            yield f"dirty_share must be in [0, 0.5], got {self.dirty_share}"
        bad_kinds = set(self.dirty_kinds) - set(DIRTY_KINDS)
        if bad_kinds:
            yield f"dirty_kinds has unknown kinds {sorted(bad_kinds)}; expected some of {DIRTY_KINDS}"
        if self.dirty_share > 0 and not self.dirty_kinds:
            yield "dirty_share > 0 needs at least one of dirty_kinds"
        for name in (
            "benign_lookalike_share",
            "geo_unknown_rate",
            "label_rate",
            "label_noise",
            "appeal_rate",
            "clear_rate",
        ):
            if not 0 <= getattr(self, name) <= 1:
                yield f"{name} must be in [0, 1], got {getattr(self, name)}"
        yield from self._scenario_problems()
        delay = tuple(self.label_delay_days)
        if len(delay) != 2 or not 0 <= delay[0] <= delay[1]:
            yield f"label_delay_days must be (min, max) with 0 <= min <= max, got {self.label_delay_days!r}"

    def _in_period(self, ds) -> bool:
        try:
            return 0 <= (dt.date.fromisoformat(ds) - self.start).days < self.days and len(ds) == 10
        except (TypeError, ValueError):
            return False

    def _scenario_problems(self):
        """The cut-over and the outages: days inside the period, known families and kinds."""
        if self.cutover_ds is not None and (not self._in_period(self.cutover_ds) or self.cutover_ds == self.start_ds):
            yield (
                f"cutover_ds {self.cutover_ds!r} must be a day after the first one and inside the world's "
                f"period {self.start_ds} + {self.days} days"
            )
        families = (self.cutover_families,) if isinstance(self.cutover_families, str) else self.cutover_families
        unknown = sorted(set(families) - set(RISK_TYPES))
        if unknown:
            yield f"cutover_families has unknown families {unknown}; expected some of {RISK_TYPES}"
        elif self.cutover_ds is not None and not families:
            yield "cutover_ds needs at least one of cutover_families"
        if not isinstance(self.outages, dict):
            yield f"outages must be a mapping of ds to kind, got {self.outages!r}"
            return
        for ds, kind in self.outages.items():
            if not self._in_period(ds):
                yield f"outages: day {ds!r} is outside the world's period {self.start_ds} + {self.days} days"
            try:
                parse_outage(kind)
            except ValueError as err:
                yield f"outages[{ds!r}]: {err}"

    def outage(self, ds: str) -> tuple[str, str | None] | None:
        """The outage of ``ds`` as ``(kind, event type or None)``, or ``None`` for a normal day."""
        kind = self.outages.get(ds)
        return parse_outage(kind) if kind is not None else None

    def cutover_day(self) -> int | None:
        """Day index of ``cutover_ds`` (the first adapted day), or ``None``."""
        return None if self.cutover_ds is None else self.day_index(self.cutover_ds)

    @property
    def start(self) -> dt.date:
        return dt.date.fromisoformat(self.start_ds)

    def day_list(self) -> list[str]:
        """The ``ds`` values of the period, in order."""
        return [(self.start + dt.timedelta(days=i)).isoformat() for i in range(self.days)]

    def day_index(self, ds: str) -> int:
        """Days from ``start_ds`` to ``ds``; raises if ``ds`` is outside the period."""
        try:
            index = (dt.date.fromisoformat(ds) - self.start).days
        except (TypeError, ValueError):
            raise ValueError(f"ds must look like YYYY-MM-DD, got {ds!r}") from None
        if not 0 <= index < self.days:
            raise ValueError(f"ds {ds} is outside the world's period {self.start_ds} + {self.days} days")
        return index

    def key(self) -> tuple:
        """A hashable identity (the dict field keeps the dataclass itself unhashable)."""
        return tuple((k, tuple(sorted(v.items())) if isinstance(v, dict) else v) for k, v in self.__dict__.items())

    def __hash__(self) -> int:  # the generated one fails on the dict field
        return hash(self.key())


def parse_outage(kind: object) -> tuple[str, str | None]:
    """``(kind, event type or None)`` of an outage name; a ``ValueError`` names a bad one."""
    if not isinstance(kind, str):
        raise ValueError(f"outage kind must be a string, got {kind!r}")
    name, sep, event_type = kind.partition(":")
    if name not in OUTAGE_KINDS:
        raise ValueError(f"unknown outage kind {kind!r}; expected one of {_OUTAGE_FORMS}")
    if name == "missing_event_type":
        if event_type not in EVENT_TYPES:
            raise ValueError(f"outage {kind!r} needs one of {EVENT_TYPES} after 'missing_event_type:'")
        return name, event_type
    if sep:
        raise ValueError(f"outage {kind!r} takes no argument; expected one of {_OUTAGE_FORMS}")
    return name, None


_OUTAGE_FORMS = ("missing_event_type:<event type>", "half_loaded", "duplicated_load")
