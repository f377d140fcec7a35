"""The accounts of a synthetic world and the devices, IPs and links they use.

Everything here is drawn once per config from its own random stream, so any single
day can be generated on its own (``generate_day``) and still agree with the others.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from integrity_local.synthetic.config import RISK_TYPES, WorldConfig
from integrity_local.synthetic.ids import hex_ids, salt

DAY_US = 86_400_000_000
NEVER = 1_000_000  # abuse_start_day of an account that never abuses

# (ISO code, share of accounts, UTC offset in hours)
COUNTRIES = (
    ("US", 0.22, -5),
    ("IN", 0.14, 5.5),
    ("BR", 0.09, -3),
    ("ID", 0.07, 7),
    ("GB", 0.05, 0),
    ("DE", 0.05, 1),
    ("MX", 0.05, -6),
    ("PH", 0.05, 8),
    ("NG", 0.04, 1),
    ("FR", 0.04, 1),
    ("TR", 0.04, 3),
    ("VN", 0.04, 7),
    ("JP", 0.03, 9),
    ("EG", 0.03, 2),
    ("CA", 0.03, -5),
    ("NL", 0.01, 1),
    ("SE", 0.01, 1),
    ("SG", 0.01, 8),
)
COUNTRY_CODES = tuple(c for c, _, _ in COUNTRIES)
COUNTRY_WEIGHTS = np.array([w for _, w, _ in COUNTRIES]) / sum(w for _, w, _ in COUNTRIES)
COUNTRY_TZ = np.array([tz for _, _, tz in COUNTRIES], dtype=np.float64)
VPN_COUNTRIES = np.array([COUNTRY_CODES.index(c) for c in ("NL", "US", "SE", "SG", "DE", "GB")])

BROWSER_UAS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "SocialApp/412.0 (iPhone15,2; iOS 17.6; en_US)",
    "SocialApp/412.0 (Android 14; SM-S918B; en_GB)",
    "SocialApp/409.1 (Android 13; Redmi Note 12; pt_BR)",
)
HEADLESS_UAS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
    "python-requests/2.32.3",
    "curl/8.5.0",
    "Scrapy/2.11.2 (+https://scrapy.org)",
    "Go-http-client/2.0",
)
USER_AGENTS = BROWSER_UAS + HEADLESS_UAS
UA_PYTHON_REQUESTS = USER_AGENTS.index("python-requests/2.32.3")

EMAIL_DOMAINS = (
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "icloud.com",
    "proton.me",
    "gmx.de",
    "yandex.ru",
    "qq.com",
    "mailinator.com",
    "tempmail.dev",
    "10minutemail.net",
    "guerrillamail.com",
    "sharklasers.com",
)
_BENIGN_EMAIL_W = np.array([45, 10, 10, 8, 7, 3, 3, 3, 3, 0.4, 0.3, 0.2, 0.1, 0.1])
_ABUSIVE_EMAIL_W = np.array([30, 3, 10, 8, 1, 5, 0, 2, 2, 12, 10, 8, 5, 4])

SHORTENERS = ("bit.ly", "tinyurl.com", "rb.gy", "cutt.ly", "t.ly")
BENIGN_SITES = (
    "www.youtube.com",
    "en.wikipedia.org",
    "www.bbc.co.uk",
    "www.nytimes.com",
    "github.com",
    "www.amazon.com",
    "www.etsy.com",
    "open.spotify.com",
    "www.reddit.com",
    "medium.com",
    "www.instagram.com",
    "news.ycombinator.com",
    "www.theguardian.com",
    "www.imdb.com",
)
_SPAM_WORDS = (
    "free-gift",
    "win-prize",
    "cheap-deals",
    "crypto-bonus",
    "hot-singles",
    "claim-now",
    "promo-codes",
    "giveaway",
    "fast-loans",
    "follower-boost",
)
_SPAM_TLDS = ("top", "click", "xyz", "icu", "live", "shop", "buzz")

# Benign traits that resemble an attack family; the index is stored per account.
LOOKALIKES = ("none", "power_user", "link_business", "card_fail", "shared_device", "vpn")
# Cluster (bulk-created batch, ring, campaign, operation, crew) size range per family.
_CLUSTER_SIZES = {
    "abusive_account": (15, 80),
    "fake_engagement": (8, 40),
    "spam_redirect": (4, 25),
    "scraping": (2, 10),
    "fraud": (2, 8),
}
# Share of a family's clusters whose accounts are created shortly before or during the period.
_NEW_SHARE = {"abusive_account": 1.0, "fake_engagement": 0.5, "spam_redirect": 0.6, "scraping": 0.3, "fraud": 0.4}
_PHONE_VERIFIED = {
    "benign": 0.75,
    "abusive_account": 0.08,
    "fake_engagement": 0.3,
    "spam_redirect": 0.35,
    "scraping": 0.55,
    "fraud": 0.5,
}
RING_TARGETS = 6
# Bulk-created abusive and fake-engagement clusters sign up in waves this many days apart,
# a wave per this many members (at least one), on the cluster's devices and IPs.
_WAVE_GAP_DAYS = 2
_WAVE_MEMBERS = {"abusive_account": 20, "fake_engagement": 10}


def _waves(family: str, size: int) -> int:
    """How many signup waves a new cluster of ``family`` comes in (1: one batch)."""
    per = _WAVE_MEMBERS.get(family)
    return max(1, size // per) if per else 1


@dataclass
class Population:
    """Per-account arrays (index = account number) plus the IP, device and link pools."""

    cfg: WorldConfig
    start_us: int
    family: np.ndarray  # int8: 0 benign, 1 + RISK_TYPES index
    lookalike: np.ndarray  # int8 index into LOOKALIKES
    country: np.ndarray  # int16 index into COUNTRIES
    created_us: np.ndarray  # int64 epoch microseconds
    abuse_start_day: np.ndarray  # int32 day index (negative: before the period; NEVER: benign)
    cluster: np.ndarray  # int32, -1 for none
    cluster_family: np.ndarray  # int8 family code of each cluster
    activity: np.ndarray  # float64 multiplier of the account's daily volume
    is_business: np.ndarray
    phone_verified: np.ndarray
    email_domain: np.ndarray
    home_ip: np.ndarray  # int64 index into ip_text
    cluster_ip_base: np.ndarray
    cluster_ip_n: np.ndarray
    primary_dev: np.ndarray  # int64 device number
    second_dev: np.ndarray
    cluster_dev_base: np.ndarray
    cluster_dev_n: np.ndarray
    popularity: np.ndarray  # float64 weight as a target of views, likes, follows
    ring_targets: np.ndarray  # (n_clusters, RING_TARGETS) account numbers; fake-engagement rings
    ip_text: pa.StringArray
    ip_country: np.ndarray  # int16 index into COUNTRIES
    mobile_start: np.ndarray  # per country: first index of its mobile-carrier IPs
    mobile_n: np.ndarray
    vpn: tuple  # (start, n) of VPN exit IPs
    dc: tuple  # datacenter proxies
    res: tuple  # residential proxies
    business_domain: np.ndarray  # per account: index into business_domains, -1 for none
    business_domains: list
    spam_domains: list
    spam_birth_day: np.ndarray
    spam_life_days: np.ndarray
    account_ids: pa.StringArray

    @property
    def n(self) -> int:
        return len(self.family)

    @property
    def created_day(self) -> np.ndarray:
        return np.floor_divide(self.created_us - self.start_us, DAY_US).astype(np.int32)


def _ip_texts(rng: np.random.Generator, n: int, v6_share: float) -> list[str]:
    octets = rng.integers(0, 256, size=(n, 4))
    octets[:, 0] = rng.integers(11, 224, size=n)
    octets[octets[:, 0] == 127, 0] = 128
    hextets = rng.integers(0, 0x10000, size=(n, 5))
    is_v6 = rng.random(n) < v6_share
    out = []
    for i in range(n):
        if is_v6[i]:
            h = hextets[i]
            out.append(f"2a0{h[0] % 16:x}:{h[1]:x}:{h[2]:x}:{h[3]:x}::{h[4]:x}")
        else:
            o = octets[i]
            out.append(f"{o[0]}.{o[1]}.{o[2]}.{o[3]}")
    return out


def _cluster_sizes(rng: np.random.Generator, total: int, lo: int, hi: int) -> list[int]:
    sizes, left = [], total
    while left > 0:
        size = min(left, int(rng.integers(lo, hi + 1)))
        sizes.append(size)
        left -= size
    return sizes


def build_population(cfg: WorldConfig) -> Population:
    """Draw the world's accounts and resources from ``cfg`` (deterministic for its seed)."""
    rng = np.random.default_rng([cfg.seed, 0xACC7])
    n = cfg.n_accounts
    start_us = (cfg.start - dt.date(1970, 1, 1)).days * DAY_US
    period_us = cfg.days * DAY_US

    # Families: counts from the shares, positions shuffled so ids say nothing.
    counts = [int(round(cfg.attack_shares.get(f, 0.0) * n)) for f in RISK_TYPES]
    codes = np.zeros(n, dtype=np.int8)
    order = rng.permutation(n)
    pos = 0
    for code, count in enumerate(counts, start=1):
        codes[order[pos : pos + count]] = code
        pos += count
    benign = codes == 0

    country = rng.choice(len(COUNTRIES), size=n, p=COUNTRY_WEIGHTS).astype(np.int16)
    activity = rng.lognormal(mean=-0.5, sigma=1.0, size=n)

    # Benign accounts: most existed long before the period, skewed towards recent years;
    # about 5% sign up during it.
    created = np.empty(n, dtype=np.int64)
    age_days = 1 + 1500 * rng.random(n) ** 2
    created[:] = start_us - (age_days * DAY_US).astype(np.int64)
    new_benign = benign & (rng.random(n) < 0.05)
    created[new_benign] = start_us + (rng.random(new_benign.sum()) * period_us).astype(np.int64)

    abuse_start = np.full(n, NEVER, dtype=np.int32)
    cluster = np.full(n, -1, dtype=np.int32)
    cluster_family: list[int] = []
    cluster_members: list[np.ndarray] = []
    for code, fam in enumerate(RISK_TYPES, start=1):
        members = np.flatnonzero(codes == code)
        lo, hi = _CLUSTER_SIZES[fam]
        at = 0
        for size in _cluster_sizes(rng, len(members), lo, hi):
            ids = members[at : at + size]
            at += size
            cid = len(cluster_family)
            cluster_family.append(code)
            cluster_members.append(ids)
            cluster[ids] = cid
            if rng.random() < _NEW_SHARE[fam]:
                # Bulk signup: waves within an hour each, the first from 3 days before the period
                # to its end. Rings sign up in waves _WAVE_GAP_DAYS apart on the same devices and
                # IPs, so that one day's counts see one wave and the graph sees the ring.
                batch = start_us + int(rng.uniform(-3, cfg.days) * DAY_US)
                last_day_us = start_us + (cfg.days - 1) * DAY_US  # every attacker acts in the period
                waves = np.arange(size) % _waves(fam, size) * _WAVE_GAP_DAYS * DAY_US
                wave_at = np.minimum(batch + waves, np.maximum(batch, last_day_us))
                created[ids] = wave_at + (rng.random(size) * 3_600_000_000).astype(np.int64)
                first = np.floor_divide(wave_at - start_us, DAY_US)
                # Abusive accounts burst right after signup; the others wait a little.
                wait = 0 if fam == "abusive_account" else int(rng.integers(0, 3))
                abuse_start[ids] = np.minimum(first + wait, cfg.days - 1)
            else:
                # Old or taken-over accounts that turn abusive some day (maybe before the period).
                created[ids] = start_us - (rng.uniform(30, 1000, size) * DAY_US).astype(np.int64)
                abuse_start[ids] = int(rng.integers(-7, cfg.days))
    cluster_family_arr = np.array(cluster_family, dtype=np.int8)
    created_day = np.floor_divide(created - start_us, DAY_US).astype(np.int32)
    abuse_start = np.where(abuse_start == NEVER, NEVER, np.maximum(abuse_start, created_day)).astype(np.int32)

    # Benign lookalikes: one trait each, so that no single rule separates abuse.
    lookalike = np.zeros(n, dtype=np.int8)
    is_look = benign & (rng.random(n) < cfg.benign_lookalike_share)
    lookalike[is_look] = rng.integers(1, len(LOOKALIKES), size=is_look.sum())
    is_business = (benign & (rng.random(n) < 0.05)) | (lookalike == LOOKALIKES.index("link_business"))
    is_business |= (codes == 1 + RISK_TYPES.index("spam_redirect")) & (rng.random(n) < 0.15)
    activity[lookalike == LOOKALIKES.index("power_user")] *= 2

    phone_p = np.full(n, _PHONE_VERIFIED["benign"])
    for code, fam in enumerate(RISK_TYPES, start=1):
        phone_p[codes == code] = _PHONE_VERIFIED[fam]
    phone_p[is_business] = np.maximum(phone_p[is_business], 0.9)
    phone_verified = rng.random(n) < phone_p
    email = rng.choice(len(EMAIL_DOMAINS), size=n, p=_BENIGN_EMAIL_W / _BENIGN_EMAIL_W.sum())
    abusive_like = np.isin(codes, [1 + RISK_TYPES.index(f) for f in ("abusive_account", "fake_engagement")])
    email[abusive_like] = rng.choice(
        len(EMAIL_DOMAINS), size=abusive_like.sum(), p=_ABUSIVE_EMAIL_W / _ABUSIVE_EMAIL_W.sum()
    )

    # IP pools, laid end to end in one text array: homes, mobile carriers per country,
    # VPN exits, datacenter proxies, residential proxies.
    mobile_n = np.maximum(3, np.round(n * COUNTRY_WEIGHTS / 40)).astype(np.int64)
    mobile_start = n + np.concatenate([[0], np.cumsum(mobile_n)[:-1]])
    vpn = (int(n + mobile_n.sum()), 64 + n // 200)
    dc = (vpn[0] + vpn[1], 500 + n // 10)
    res = (dc[0] + dc[1], 500 + n // 10)
    total_ips = res[0] + res[1]
    ip_country = np.empty(total_ips, dtype=np.int16)
    ip_country[:n] = country
    ip_country[n : vpn[0]] = np.repeat(np.arange(len(COUNTRIES)), mobile_n)
    ip_country[vpn[0] : dc[0]] = rng.choice(VPN_COUNTRIES, size=vpn[1])
    ip_country[dc[0] : res[0]] = rng.choice(len(COUNTRIES), size=dc[1])
    ip_country[res[0] :] = rng.choice(len(COUNTRIES), size=res[1], p=COUNTRY_WEIGHTS)
    texts = _ip_texts(rng, n, 0.15) + _ip_texts(rng, vpn[0] - n, 0.3) + _ip_texts(rng, total_ips - vpn[0], 0.05)
    home_ip = np.arange(n, dtype=np.int64)

    primary_dev = np.arange(n, dtype=np.int64)
    second_dev = np.arange(n, 2 * n, dtype=np.int64)
    # Shared family devices and home connections: the account uses another benign one's.
    shared = lookalike == LOOKALIKES.index("shared_device")
    heads = rng.choice(np.flatnonzero(benign & ~shared), size=shared.sum())
    primary_dev[shared] = heads
    home_ip[shared] = heads
    country[shared] = country[heads]

    cluster_ip_base = np.zeros(n, dtype=np.int64)
    cluster_ip_n = np.zeros(n, dtype=np.int64)
    cluster_dev_base = np.zeros(n, dtype=np.int64)
    cluster_dev_n = np.zeros(n, dtype=np.int64)
    next_dev = 2 * n
    ring_targets = np.zeros((len(cluster_members), RING_TARGETS), dtype=np.int64)
    customers = np.flatnonzero(benign & (created < start_us))
    customer_w = np.where(is_business[customers], 5.0, 1.0)
    customer_w /= customer_w.sum()
    for cid, ids in enumerate(cluster_members):
        fam = RISK_TYPES[cluster_family[cid] - 1]
        size = len(ids)
        if fam in ("abusive_account", "fake_engagement", "spam_redirect"):
            n_ip = max(1, size // {"abusive_account": 10, "fake_engagement": 4, "spam_redirect": 3}[fam])
            pool = dc if rng.random() < 0.6 else res
            base = pool[0] + int(rng.integers(0, pool[1] - n_ip + 1))
            cluster_ip_base[ids], cluster_ip_n[ids] = base, n_ip
            home_ip[ids] = base + np.arange(size) % n_ip
            # They sign up through those IPs, so the profile country is the IPs' country.
            country[ids] = ip_country[home_ip[ids]]
        if fam in ("abusive_account", "fake_engagement"):
            n_dev = max(1, size // (8 if fam == "abusive_account" else 3))
            cluster_dev_base[ids], cluster_dev_n[ids] = next_dev, n_dev
            primary_dev[ids] = next_dev + np.arange(size) % n_dev
            next_dev += n_dev
        if fam == "fake_engagement":
            ring_targets[cid] = rng.choice(customers, size=RING_TARGETS, p=customer_w)

    popularity = rng.lognormal(0.0, 1.6, size=n)
    popularity[is_business] *= 3

    # Links: each small business has its own shop domain; spam domains are born and
    # burnt over the period, faster when attackers adapt faster.
    businesses = np.flatnonzero(is_business)
    business_domain = np.full(n, -1, dtype=np.int64)
    business_domain[businesses] = np.arange(len(businesses))
    shop_words = ("shop", "studio", "bakery", "crafts", "store", "boutique", "designs", "goods")
    business_domains = [
        f"{shop_words[i % len(shop_words)]}-{h}.com"
        for i, h in enumerate(hex_ids("", businesses, salt(cfg.seed, "biz"), 6).to_pylist())
    ]
    per_day = 2 + int(round(6 * cfg.drift))
    span = cfg.days + 10
    n_spam = 8 + per_day * span
    spam_birth = np.concatenate([np.full(8, -10), -10 + np.arange(per_day * span) // per_day])
    spam_life = rng.integers(2, 6, size=n_spam)
    spam_hex = hex_ids("", np.arange(n_spam), salt(cfg.seed, "spam"), 5).to_pylist()
    spam_domains = [
        f"{_SPAM_WORDS[i % len(_SPAM_WORDS)]}-{spam_hex[i]}.{_SPAM_TLDS[i % len(_SPAM_TLDS)]}" for i in range(n_spam)
    ]

    return Population(
        cfg=cfg,
        start_us=start_us,
        family=codes,
        lookalike=lookalike,
        country=country,
        created_us=created,
        abuse_start_day=abuse_start,
        cluster=cluster,
        cluster_family=cluster_family_arr,
        activity=activity,
        is_business=is_business,
        phone_verified=phone_verified,
        email_domain=email.astype(np.int16),
        home_ip=home_ip,
        cluster_ip_base=cluster_ip_base,
        cluster_ip_n=cluster_ip_n,
        primary_dev=primary_dev,
        second_dev=second_dev,
        cluster_dev_base=cluster_dev_base,
        cluster_dev_n=cluster_dev_n,
        popularity=popularity,
        ring_targets=ring_targets,
        ip_text=pa.array(texts, pa.string()),
        ip_country=ip_country,
        mobile_start=mobile_start,
        mobile_n=mobile_n,
        vpn=vpn,
        dc=dc,
        res=res,
        business_domain=business_domain,
        business_domains=business_domains,
        spam_domains=spam_domains,
        spam_birth_day=spam_birth,
        spam_life_days=spam_life,
        account_ids=hex_ids("acct_", np.arange(n), salt(cfg.seed, "acct")),
    )
