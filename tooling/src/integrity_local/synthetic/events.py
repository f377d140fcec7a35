"""One day of ``raw.user_events``, vectorized: per-account rates, then one row per event.

Every account draws a Poisson count per event type from a benign-looking profile
(its "camouflage"); attackers in their abuse phase draw a second set of counts from
their family's profile. The attack rows are then given the family's fingerprints
(bursts, shared devices and IPs, ring targets, spam links, headless agents, small
failing payments), each of which some benign accounts share to a lesser degree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from integrity_local.synthetic.config import EVENT_TYPES, RISK_TYPES, WorldConfig
from integrity_local.synthetic.ids import hex_ids, salt
from integrity_local.synthetic.population import (
    BENIGN_SITES,
    BROWSER_UAS,
    COUNTRY_CODES,
    COUNTRY_TZ,
    DAY_US,
    HEADLESS_UAS,
    LOOKALIKES,
    SHORTENERS,
    UA_PYTHON_REQUESTS,
    USER_AGENTS,
    Population,
)
from integrity_local.synthetic.schema import USER_EVENTS_SCHEMA

ET = {name: i for i, name in enumerate(EVENT_TYPES)}
FAM = {name: i for i, name in enumerate(RISK_TYPES, start=1)}
LOOK = {name: i for i, name in enumerate(LOOKALIKES)}
N_TYPES = len(EVENT_TYPES)
ITEMS_PER_ACCOUNT = 8
SEC = 1_000_000

# Share of an ordinary account's events by type.
_BENIGN_MIX = np.array([0.05, 0.55, 0.14, 0.015, 0.03, 0.015, 0.012, 0.09, 0.04, 0.003, 0.005])
_BENIGN_MIX = _BENIGN_MIX / _BENIGN_MIX.sum()


def _profile(**counts: float) -> np.ndarray:
    row = np.zeros(N_TYPES)
    for name, value in counts.items():
        row[ET[name]] = value
    return row


# Expected attack events per active day of one attacker before any adaptation.
_ATTACK_RATES = np.stack(
    [
        np.zeros(N_TYPES),
        _profile(login=6, view=40, like=40, follow=40, comment=10, share=3, post=6, message=25, click_link=3),
        _profile(login=3, view=40, like=120, follow=30, comment=6, share=12),
        _profile(login=3, view=15, follow=5, post=10, comment=30, message=40, click_link=4),
        _profile(login=3, view=300, api_request=350),
        _profile(login=5, view=10, click_link=2, payment_attempt=40),
    ]
)
# Probability that an attack event falls in the account's burst, and the burst's length (s).
_BURST_P = np.array([0.25, 0.85, 0.8, 0.6, 0.5, 0.8])
_BURST_LEN = np.array([1800, 2700, 900, 3600, 4 * 3600, 900], dtype=np.float64)
# IP choice per attack event: home (or the cluster's IPs), mobile, VPN, datacenter, residential proxy.
_IP_MODES = np.array(
    [
        [0.68, 0.29, 0.03, 0.00, 0.00],
        [0.60, 0.10, 0.10, 0.20, 0.00],
        [0.50, 0.20, 0.10, 0.10, 0.10],
        [0.40, 0.20, 0.10, 0.20, 0.10],
        [0.05, 0.00, 0.05, 0.60, 0.30],
        [0.40, 0.20, 0.10, 0.15, 0.15],
    ]
)
_VPN_USER_MODES = np.array([0.30, 0.20, 0.50, 0.00, 0.00])
_TARGETED = np.zeros(N_TYPES, dtype=bool)
_TARGETED[[ET[t] for t in ("view", "like", "follow", "message", "comment", "share")]] = True
_ITEMED = np.zeros(N_TYPES, dtype=bool)
_ITEMED[[ET[t] for t in ("view", "like", "comment", "share", "post")]] = True
_LINKABLE = np.zeros(N_TYPES, dtype=bool)
_LINKABLE[[ET[t] for t in ("post", "comment", "message")]] = True
_FAIL_P = np.full(N_TYPES, 0.005)
_FAIL_P[[ET["login"], ET["api_request"], ET["payment_attempt"]]] = [0.03, 0.02, 0.05]
_PATH_WORDS = ("watch", "wiki", "news", "article", "item", "p", "story", "post", "video", "dp")


def adaptation(cfg: WorldConfig, day: int) -> float:
    """How far attackers have adapted on day ``day`` of the period, 0 (not) to 1 (fully)."""
    return float(min(1.0, max(0.0, cfg.drift * day / 7.0)))


def behaviour(cfg: WorldConfig, day: int) -> np.ndarray:
    """How far each family's fingerprints have adapted on ``day``, indexed by family code (0: benign).

    The gradual ``adaptation``, except that from ``cfg.cutover_ds`` on the cut-over families
    behave fully adapted. Volumes do not follow it (``day_rates`` keeps the gradual value),
    so a cut-over changes how attackers act, not how much upstream traffic there is.
    """
    values = np.full(len(RISK_TYPES) + 1, adaptation(cfg, day))
    cutover = cfg.cutover_day()
    if cutover is not None and day >= cutover:
        values[[FAM[f] for f in cfg.cutover_families]] = 1.0
    return values


def url_pool(pop: Population, day: int, rng: np.random.Generator) -> tuple[pa.Array, dict]:
    """The day's link texts and where each kind starts: benign sites, shorteners, shops, spam."""
    cfg = pop.cfg
    generic = [
        f"https://{site}/{_PATH_WORDS[k % len(_PATH_WORDS)]}/{k:04d}" for site in BENIGN_SITES for k in range(20)
    ]
    codes = hex_ids("", np.arange(600), salt(cfg.seed, "short"), 7).to_pylist()
    short = [f"https://{SHORTENERS[i % len(SHORTENERS)]}/{code}" for i, code in enumerate(codes)]
    shops = [f"https://{dom}/products/{k}" for dom in pop.business_domains for k in range(4)]
    alive = np.flatnonzero((pop.spam_birth_day <= day) & (day < pop.spam_birth_day + pop.spam_life_days))
    refs = hex_ids("", np.arange(len(alive) * 6) + (day + 20) * 100_000, salt(cfg.seed, "ref"), 4).to_pylist()
    spam = [
        f"https://{pop.spam_domains[d]}/{_PATH_WORDS[j]}?ref={refs[i * 6 + j]}"
        for i, d in enumerate(alive)
        for j in range(6)
    ]
    parts = {"generic": generic, "benign_short": short[:300], "spam_short": short[300:], "shop": shops, "spam": spam}
    starts, texts = {}, []
    for name, items in parts.items():
        starts[name] = (len(texts), len(items))
        texts.extend(items)
    return pa.array(texts, pa.string()), starts


def _pick(starts: dict, name: str, u: np.ndarray) -> np.ndarray:
    start, size = starts[name]
    return start + np.minimum((u * size).astype(np.int64), size - 1)


def _strings_with_nulls(arr: pa.Array, valid: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(valid), arr, pa.scalar(None, arr.type))


def day_rates(pop: Population, day: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expected camouflage and attack counts per account and event type for one day.

    :returns: (benign rates N x types, attacker account numbers, their attack rates).
    """
    cfg = pop.cfg
    a = adaptation(cfg, day)
    created_day = pop.created_day
    exists = created_day <= day
    attacking = (pop.abuse_start_day <= day) & exists
    p_active = np.where(pop.lookalike == LOOK["power_user"], 0.95, 0.6)
    active = exists & (rng.random(pop.n) < p_active)
    scale = pop.activity * cfg.events_per_account * active
    # Attackers keep a benign-looking background, larger as they adapt.
    scale = np.where(attacking, cfg.events_per_account * (0.3 + 1.2 * a) * exists, scale)
    rates = scale[:, None] * _BENIGN_MIX[None, :]
    look = pop.lookalike
    rates[look == LOOK["power_user"], ET["view"]] *= 5
    rates[look == LOOK["power_user"], ET["api_request"]] *= 400
    rates[look == LOOK["link_business"], ET["post"]] *= 10
    rates[look == LOOK["link_business"], ET["message"]] *= 2
    rates[look == LOOK["card_fail"], ET["payment_attempt"]] *= 15

    attackers = np.flatnonzero(attacking)
    fam = pop.family[attackers]
    intensity = rng.lognormal(0.0, 0.4, size=len(attackers)) * (1 - 0.5 * a)
    since = day - pop.abuse_start_day[attackers]
    # Bulk-created accounts burst in their first days, then mostly go quiet.
    intensity = np.where((fam == FAM["abusive_account"]) & (since > 2), intensity * 0.2, intensity)
    on = rng.random(len(attackers)) < 0.9
    attack_rates = _ATTACK_RATES[fam] * (intensity * on)[:, None]
    return rates, attackers, attack_rates


@dataclass
class _Rows:
    """The day's events as parallel arrays, before they become strings."""

    pop: Population
    rng: np.random.Generator
    day: int
    day_start: int  # epoch microseconds of 00:00 UTC
    fam_a: np.ndarray  # adaptation of each family's fingerprints, by family code (``behaviour``)
    acct: np.ndarray  # account number of each event
    etype: np.ndarray  # index into EVENT_TYPES
    fam: np.ndarray  # family code of an attack event, 0 for a background (benign-looking) one
    look: np.ndarray  # lookalike trait of a benign account's event, 0 otherwise

    @property
    def n(self) -> int:
        return len(self.acct)

    @property
    def is_attack(self) -> np.ndarray:
        return self.fam > 0

    @property
    def a(self) -> np.ndarray:
        """Each event's family adaptation (that of the gradual drift for background events)."""
        return self.fam_a[self.fam]

    def reorder(self, order: np.ndarray) -> None:
        self.acct, self.etype, self.fam, self.look = (x[order] for x in (self.acct, self.etype, self.fam, self.look))


def _expand(pop: Population, day: int, day_start: int, rng: np.random.Generator) -> _Rows:
    """Draw the day's counts and expand them to one row per event."""
    rates, attackers, attack_rates = day_rates(pop, day, rng)
    benign_counts = rng.poisson(rates).ravel()
    attack_counts = rng.poisson(attack_rates).ravel()
    flat_b = np.repeat(np.arange(benign_counts.size), benign_counts)
    flat_a = np.repeat(np.arange(attack_counts.size), attack_counts)
    acct = np.concatenate([flat_b // N_TYPES, attackers[flat_a // N_TYPES]])
    etype = np.concatenate([flat_b % N_TYPES, flat_a % N_TYPES]).astype(np.int8)
    is_attack = np.arange(len(acct)) >= len(flat_b)
    return _Rows(
        pop,
        rng,
        day,
        day_start,
        behaviour(pop.cfg, day),
        acct,
        etype,
        fam=np.where(is_attack, pop.family[acct], 0).astype(np.int64),
        look=np.where(is_attack, 0, pop.lookalike[acct]).astype(np.int64),
    )


def _event_times(r: _Rows) -> np.ndarray:
    """A diurnal curve in the account's local time, or inside its burst; epoch microseconds."""
    pop, rng, n, fam = r.pop, r.rng, r.n, r.fam
    local_h = np.where(rng.random(n) < 0.65, rng.normal(20.5, 2.5, n), rng.normal(12.5, 3.0, n))
    diurnal = ((local_h - COUNTRY_TZ[pop.country[r.acct]]) * 3600) % 86400
    # Bursts fit inside the day; adapting attackers stretch theirs (slower rates).
    slow = 1 + 3 * r.fam_a  # by family code
    acct_burst_len = np.where(pop.family > 0, _BURST_LEN[pop.family] * slow[pop.family], _BURST_LEN[0])
    burst_start = rng.random(pop.n) * (86400 - acct_burst_len)
    # A fake-engagement ring fires together: one start per ring, a few minutes of jitter.
    ring_len = _BURST_LEN[FAM["fake_engagement"]] * slow[FAM["fake_engagement"]]
    ring_start = rng.random(max(1, len(pop.cluster_family))) * (86400 - ring_len - 300)
    ringed = pop.family == FAM["fake_engagement"]
    burst_start[ringed] = ring_start[pop.cluster[ringed]] + rng.random(ringed.sum()) * 300
    burst_len = np.where(fam > 0, acct_burst_len[r.acct], _BURST_LEN[0])
    in_burst = rng.random(n) < _BURST_P[fam] * np.where(fam > 0, 1 - 0.5 * r.a, 1.0)
    sec = np.where(in_burst, burst_start[r.acct] + rng.random(n) * burst_len, diurnal)
    # Accounts created today act only after signing up; bulk accounts right after.
    created_sec = (pop.created_us[r.acct] - r.day_start) / SEC
    new = created_sec > 0
    sec = np.where(new, created_sec + sec * (86400 - created_sec) / 86400, sec)
    sec = np.where(
        new & (fam == FAM["abusive_account"]) & in_burst,
        created_sec + rng.random(n) * np.minimum(burst_len, 86400 - created_sec),
        sec,
    )
    return r.day_start + np.minimum((sec * SEC).astype(np.int64), DAY_US - 1)


def _devices(r: _Rows) -> np.ndarray:
    """Device numbers: the account's own two, or (device farms) any of its cluster's."""
    pop, acct = r.pop, r.acct
    u = r.rng.random(r.n)
    dev = np.where(u < 0.85, pop.primary_dev[acct], pop.second_dev[acct])
    # Most attack events of bulk and ring accounts use any cluster device; fewer as they adapt.
    farm = r.is_attack & (pop.cluster_dev_n[acct] > 0) & (r.rng.random(r.n) < 0.75 * (1 - 0.4 * r.a))
    return np.where(farm, pop.cluster_dev_base[acct] + (u * pop.cluster_dev_n[acct]).astype(np.int64), dev)


def _ips(r: _Rows) -> np.ndarray:
    """IP numbers: home (or the cluster's IPs), mobile carrier, VPN, datacenter or residential proxy."""
    pop, acct, a, fam = r.pop, r.acct, r.a, r.fam
    a_fraud = r.fam_a[FAM["fraud"]]
    modes = _IP_MODES[fam].copy()
    modes[r.look == LOOK["vpn"]] = _VPN_USER_MODES
    # Adapting attackers move from datacenter to residential proxies.
    shift = np.where(fam > 0, modes[:, 3] * a * 0.8, 0.0)
    modes[:, 3] -= shift
    modes[:, 4] += shift
    # Card testers pay from proxies abroad (country mismatch), less as they adapt.
    modes[(fam == FAM["fraud"]) & (r.etype == ET["payment_attempt"])] = [
        0.2 + 0.4 * a_fraud,
        0,
        0,
        0.4 * (1 - a_fraud),
        0.4 * (1 - a_fraud),
    ]
    mode = (r.rng.random(r.n)[:, None] > np.cumsum(modes, axis=1)[:, :-1]).sum(axis=1)
    u = r.rng.random(r.n)
    c = pop.country[acct]
    home = np.where(
        r.is_attack & (pop.cluster_ip_n[acct] > 0),
        pop.cluster_ip_base[acct] + (u * pop.cluster_ip_n[acct]).astype(np.int64),
        pop.home_ip[acct],
    )
    return np.choose(
        mode,
        [
            home,
            pop.mobile_start[c] + (u * pop.mobile_n[c]).astype(np.int64),
            pop.vpn[0] + (u * pop.vpn[1]).astype(np.int64),
            pop.dc[0] + (u * pop.dc[1]).astype(np.int64),
            pop.res[0] + (u * pop.res[1]).astype(np.int64),
        ],
    )


def _user_agents(r: _Rows, dev: np.ndarray) -> np.ndarray:
    """Index into USER_AGENTS: one browser or app per device; scrapers mostly headless."""
    ua = ((dev * 2654435761) % len(BROWSER_UAS)).astype(np.int64)
    headless = (r.fam == FAM["scraping"]) & (r.rng.random(r.n) < 0.9 * (1 - 0.8 * r.a))
    ua = np.where(headless, len(BROWSER_UAS) + r.rng.integers(0, len(HEADLESS_UAS), r.n), ua)
    # Benign developers script the API too.
    scripted = (r.look == LOOK["power_user"]) & (r.etype == ET["api_request"]) & (r.rng.random(r.n) < 0.6)
    return np.where(scripted, UA_PYTHON_REQUESTS, ua)


def _targets(r: _Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(target account, has one, item number, has one): popular accounts, ring targets, or anyone."""
    pop, rng, n, fam, etype = r.pop, r.rng, r.n, r.fam, r.etype
    existing = pop.created_us < r.day_start + DAY_US
    cum = np.cumsum(pop.popularity * existing)
    target = np.searchsorted(cum, rng.random(n) * cum[-1], side="right").clip(0, pop.n - 1)
    ring = (fam == FAM["fake_engagement"]) & (rng.random(n) < 0.85 * (1 - 0.4 * r.a))
    ring_pick = pop.ring_targets[np.maximum(pop.cluster[r.acct], 0), rng.integers(0, pop.ring_targets.shape[1], n)]
    target = np.where(ring, ring_pick, target)
    existing_ids = np.flatnonzero(existing)
    spread = (
        (fam == FAM["scraping"])
        | ((fam == FAM["spam_redirect"]) & (etype == ET["message"]))
        | ((fam == FAM["abusive_account"]) & (rng.random(n) < 0.5))
    )
    target = np.where(spread, existing_ids[rng.integers(0, len(existing_ids), n)], target)
    api = etype == ET["api_request"]
    has_target = _TARGETED[etype] | (api & ((fam == FAM["scraping"]) | (rng.random(n) < 0.3)))
    item = np.where(etype == ET["post"], r.acct, target) * ITEMS_PER_ACCOUNT + rng.integers(0, ITEMS_PER_ACCOUNT, n)
    has_item = _ITEMED[etype] | (api & has_target & (rng.random(n) < 0.5))
    return target, has_target, item, has_item


def _links(r: _Rows) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(the day's link texts, index of each event's link, has one)."""
    pop, rng, n, a, fam = r.pop, r.rng, r.n, r.a, r.fam
    urls, starts = url_pool(pop, r.day, rng)
    u1, u2 = rng.random(n), rng.random(n)
    p_link = np.where(r.look == LOOK["link_business"], 0.6, 0.06)
    p_link = np.where(fam == FAM["spam_redirect"], 0.85 * (1 - 0.4 * a), p_link)
    has_url = (r.etype == ET["click_link"]) | (_LINKABLE[r.etype] & (rng.random(n) < p_link))
    url = np.where(u1 < 0.8, _pick(starts, "generic", u2), _pick(starts, "benign_short", u2))
    shop = pop.business_domain[r.acct]
    own_shop = (shop >= 0) & ~r.is_attack & (u1 < 0.6)
    url = np.where(own_shop, starts["shop"][0] + shop * 4 + (u2 * 4).astype(np.int64), url)
    # Spammers link to the day's spam domains, more and more through shared shorteners.
    spam = (fam == FAM["spam_redirect"]) & (u1 < 1 - 0.1 * a)
    via_short = rng.random(n) < 0.25 + 0.35 * a
    url = np.where(spam, np.where(via_short, _pick(starts, "spam_short", u2), _pick(starts, "spam", u2)), url)
    return urls, url, has_url


def _payments(r: _Rows) -> tuple[np.ndarray, np.ndarray]:
    """(amount, failed): ordinary purchases, or card testing with small amounts that mostly fail."""
    rng, n, fam, etype, look = r.rng, r.n, r.fam, r.etype, r.look
    is_pay = etype == ET["payment_attempt"]
    amount = np.round(np.maximum(0.5, rng.lognormal(3.0, 1.0, n)), 2)
    fraud_pay = (fam == FAM["fraud"]) & is_pay
    card_test = fraud_pay & (rng.random(n) < 0.85 * (1 - 0.5 * r.a))
    amount = np.where(card_test, np.round(rng.uniform(0.5, 4.99, n), 2), amount)
    fail_p = _FAIL_P[etype].copy()
    fail_p[is_pay & (look == LOOK["card_fail"])] = 0.35
    fail_p[(fam == FAM["abusive_account"]) & (etype == ET["login"])] = 0.15
    fail_p[(fam == FAM["scraping"]) & (etype == ET["api_request"])] = 0.25
    fail_p[(fam == FAM["scraping"]) & (etype == ET["view"])] = 0.05
    fail_p[fraud_pay] = np.where(card_test[fraud_pay], 0.75, 0.3)
    return amount, rng.random(n) < fail_p


def generate_events(pop: Population, ds: str) -> pa.Table:
    """The clean events of ``ds`` (no dirty rows), sorted by event_time."""
    cfg = pop.cfg
    day = cfg.day_index(ds)
    day_start = pop.start_us + day * DAY_US
    ordinal = (day_start // DAY_US) + 719_163  # date.toordinal(), so ids differ between days
    r = _expand(pop, day, day_start, np.random.default_rng([cfg.seed, ordinal, 0xE7]))
    event_us = _event_times(r)
    order = np.argsort(event_us, kind="stable")
    event_us = event_us[order]
    r.reorder(order)
    dev = _devices(r)
    ip = _ips(r)
    ua = _user_agents(r, dev)
    target, has_target, item, has_item = _targets(r)
    urls, url, has_url = _links(r)
    amount, failed = _payments(r)
    is_pay = r.etype == ET["payment_attempt"]
    country_known = r.rng.random(r.n) >= cfg.geo_unknown_rate
    n = r.n
    columns = {
        "event_id": hex_ids(
            "evt_", (np.uint64(ordinal) << np.uint64(32)) + np.arange(n, dtype=np.uint64), salt(cfg.seed, "evt")
        ),
        "event_time": pa.array(event_us, pa.timestamp("us")),
        "account_id": pop.account_ids.take(pa.array(r.acct)),
        "device_id": hex_ids("dev_", dev, salt(cfg.seed, "dev")),
        "ip": pop.ip_text.take(pa.array(ip)),
        "user_agent": pa.array(USER_AGENTS, pa.string()).take(pa.array(ua)),
        "country": pa.array(COUNTRY_CODES, pa.string()).take(pa.array(pop.ip_country[ip], mask=~country_known)),
        "event_type": pa.array(EVENT_TYPES, pa.string()).take(pa.array(r.etype.astype(np.int64))),
        "target_account_id": pop.account_ids.take(pa.array(target, mask=~has_target)),
        "target_item_id": _strings_with_nulls(hex_ids("item_", item, salt(cfg.seed, "item")), has_item),
        "url": urls.take(pa.array(url, mask=~has_url)),
        "amount": pa.array(amount, pa.float64(), mask=~is_pay),
        "status": pa.array(["success", "fail"], pa.string()).take(pa.array(failed.astype(np.int64))),
    }
    return pa.table(columns, schema=USER_EVENTS_SCHEMA)
