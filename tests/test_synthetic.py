"""The synthetic upstream world: schema, determinism, attack families, labels, dirt, Hive load."""

from __future__ import annotations

import hashlib
import re
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from integrity_local.synthetic import (
    DIRTY_KINDS,
    EVENT_TYPES,
    RISK_TYPES,
    SCHEMAS,
    WorldConfig,
    build_world,
    generate_day,
    load_world,
    write_world,
)
from integrity_local.synthetic.__main__ import main as cli_main
from integrity_local.synthetic.population import SHORTENERS
from integrity_risk.paths import HQL_DIR

SHARES = {"abusive_account": 0.04, "fake_engagement": 0.03, "spam_redirect": 0.03, "scraping": 0.02, "fraud": 0.03}
HEADLESS = re.compile(r"HeadlessChrome|python-requests|curl/|Scrapy|Go-http-client")
HIVE_TYPE_NAMES = {
    pa.string(): "STRING_TYPE",
    pa.timestamp("us"): "TIMESTAMP_TYPE",
    pa.float64(): "DOUBLE_TYPE",
    pa.int32(): "INT_TYPE",
    pa.bool_(): "BOOLEAN_TYPE",
}
HIVE_TO_ARROW = {
    "STRING": pa.string(),
    "TIMESTAMP": pa.timestamp("us"),
    "DOUBLE": pa.float64(),
    "INT": pa.int32(),
    "BOOLEAN": pa.bool_(),
}


def small_config(**overrides) -> WorldConfig:
    params = dict(
        seed=11, start_ds="2026-03-01", days=4, n_accounts=1500, attack_shares=SHARES, drift=0.3, dirty_share=0.0
    )
    params.update(overrides)
    return WorldConfig(**params)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One clean 4-day world written to disk, with events joined to the ground truth."""
    cfg = small_config()
    out = tmp_path_factory.mktemp("world")
    files = write_world(cfg, out)
    truth = pq.read_table(files.ground_truth).to_pandas()
    events = pd.concat(
        [pq.read_table(p.path).to_pandas().assign(ds=p.ds) for p in files.partitions if p.table == "user_events"]
    )
    profiles = build_world(cfg).profiles.to_pandas()
    joined = events.merge(truth, on="account_id", how="left").merge(
        profiles[["account_id", "country"]].rename(columns={"country": "profile_country"}), on="account_id"
    )
    return cfg, files, truth, joined


def ddl_columns(table: str) -> list[tuple[str, str]]:
    """(column, Hive type) of ``raw.<table>`` as written in include/hql/upstream_tables.hql."""
    text = (HQL_DIR / "upstream_tables.hql").read_text()
    body = re.search(rf"CREATE TABLE IF NOT EXISTS raw\.{table} \((.*?)\)\s*PARTITIONED BY", text, re.S).group(1)
    body = re.sub(r"--[^\n]*", "", body)
    return [tuple(col.split()[:2]) for col in body.split(",") if col.strip()]


def file_digests(out) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*.parquet"))}


# --- schema and determinism ---------------------------------------------------------------


@pytest.mark.parametrize("table", list(SCHEMAS))
def test_written_partitions_have_exactly_the_upstream_ddl_columns_and_types(world, table):
    _, files, _, _ = world
    expected = [(name, HIVE_TO_ARROW[hive_type]) for name, hive_type in ddl_columns(table)]
    assert [(f.name, f.type) for f in SCHEMAS[table]] == expected
    for part in (p for p in files.partitions if p.table == table):
        schema = pq.read_schema(part.path / "part-0.parquet")
        assert [(f.name, f.type) for f in schema] == expected, part.path


def test_the_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path):
    cfg = small_config(n_accounts=400, days=2, dirty_share=0.01)
    first, second, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    write_world(cfg, first)
    write_world(cfg, second)
    write_world(small_config(n_accounts=400, days=2, dirty_share=0.01, seed=12), other)
    assert file_digests(first) == file_digests(second)
    assert len(file_digests(first)) == 3 * 2 + 2
    assert (first / "world.json").read_bytes() == (second / "world.json").read_bytes()
    differing = {k for k, v in file_digests(other).items() if file_digests(first).get(k) != v}
    assert differing == set(file_digests(first))
    ids_a = set(pq.read_table(first / "raw/user_events").column("event_id").to_pylist())
    ids_c = set(pq.read_table(other / "raw/user_events").column("event_id").to_pylist())
    assert not ids_a & ids_c


def test_one_day_generated_alone_equals_that_day_of_the_whole_world(world, tmp_path):
    cfg, files, _, _ = world
    ds = cfg.day_list()[2]
    alone = generate_day(small_config(), ds)
    written = pq.read_table(next(p.path for p in files.partitions if p.table == "user_events" and p.ds == ds))
    assert alone.user_events.equals(written)


def test_raw_ids_are_distinctive_strings_that_a_grep_can_find(world):
    _, _, truth, events = world
    assert truth.account_id.str.fullmatch(r"acct_[0-9a-f]{16}").all()
    assert events.device_id.str.fullmatch(r"dev_[0-9a-f]{16}").all()
    assert events.event_id.str.fullmatch(r"evt_[0-9a-f]{16}").all()
    ipv4 = events.ip.str.fullmatch(r"\d{1,3}(\.\d{1,3}){3}")
    ipv6 = events.ip.str.contains(":")
    assert (ipv4 | ipv6).all() and ipv4.mean() > 0.7 and ipv6.mean() > 0.02


# --- population and behaviour ---------------------------------------------------------------


def test_each_attack_family_is_present_at_its_configured_share(world):
    cfg, _, truth, _ = world
    shares = truth.truth.value_counts(normalize=True)
    for family, share in SHARES.items():
        assert shares[family] == pytest.approx(share, abs=0.002), family
    assert shares["benign"] == pytest.approx(1 - sum(SHARES.values()), abs=0.002)
    assert truth.abuse_start_ds.isna().equals(truth.truth == "benign")


def test_every_attack_family_is_active_in_the_events(world):
    _, _, _, events = world
    assert set(events.truth) == {"benign", *RISK_TYPES}
    assert set(events.event_type) == set(EVENT_TYPES)


def per_account_day(events: pd.DataFrame) -> pd.DataFrame:
    return (
        events.groupby(["truth", "account_id", "ds"])
        .agg(
            events=("event_id", "size"),
            views=("event_type", lambda s: s.isin(["view", "api_request"]).sum()),
            targets=("target_account_id", "nunique"),
            ips=("ip", "nunique"),
        )
        .reset_index()
    )


def test_scrapers_view_many_targets_fast_from_rotating_ips_with_headless_agents(world):
    _, _, _, events = world
    per = per_account_day(events)
    scrapers, benign = per[per.truth == "scraping"], per[per.truth == "benign"]
    assert scrapers.views.median() > 10 * benign.views.median()
    assert scrapers.targets.median() > 10 * benign.targets.median()
    assert scrapers.ips.median() > 5 * benign.ips.median()
    headless = events.user_agent.str.contains(HEADLESS)
    assert headless[events.truth == "scraping"].mean() > 0.5
    # Benign power users overlap: some view more than some scrapers and script the API.
    power = per[per.account_id.isin(events.account_id[events.benign_trait == "power_user"])]
    assert power.views.max() > scrapers.views.quantile(0.25)
    assert headless[events.benign_trait == "power_user"].mean() > 0.05


def test_fake_engagement_rings_like_the_same_targets_in_bursts(world):
    _, _, truth, events = world
    likes = events[(events.truth == "fake_engagement") & events.event_type.isin(["like", "follow"])]
    ring_of = truth.set_index("account_id").cluster_id
    likes = likes.assign(ring=likes.account_id.map(ring_of))
    # Within a ring, most likes and follows hit a handful of shared targets.
    top_share = likes.groupby("ring").target_account_id.apply(lambda t: t.value_counts().head(6).sum() / len(t))
    assert top_share.median() > 0.5
    benign_likes = events[(events.truth == "benign") & (events.event_type == "like")]
    assert benign_likes.target_account_id.value_counts().head(6).sum() / len(benign_likes) < 0.2

    # Bursts: most of a ring's likes and follows of a day fall in one two-hour window.
    def burst_share(times):
        hours = np.bincount(times.dt.hour, minlength=24)
        return (hours + np.roll(hours, -1)).max() / len(times)

    busy = likes.groupby(["ring", "ds"]).filter(lambda g: len(g) >= 50)
    assert busy.groupby(["ring", "ds"]).event_time.agg(burst_share).median() > 0.5
    benign = events[events.truth == "benign"].groupby(["account_id", "ds"]).filter(lambda g: len(g) >= 50)
    assert benign.groupby(["account_id", "ds"]).event_time.agg(burst_share).median() < 0.5


def test_bulk_created_accounts_are_young_unverified_and_share_devices(world):
    cfg, _, truth, events = world
    profiles = build_world(cfg).profiles.to_pandas().merge(truth[["account_id", "truth"]], on="account_id")
    abusive, benign = profiles[profiles.truth == "abusive_account"], profiles[profiles.truth == "benign"]
    start = pd.Timestamp(cfg.start_ds)
    assert (abusive.created_at >= start - pd.Timedelta(days=3)).all()
    assert abusive.phone_verified.mean() < 0.3 < benign.phone_verified.mean()
    accounts_per_device = events.groupby("device_id").account_id.nunique()
    shared = events.device_id.map(accounts_per_device)
    assert shared[events.truth == "abusive_account"].median() >= 5
    # Family devices: some benign accounts share a device too.
    assert shared[events.benign_trait == "shared_device"].median() >= 2


def test_rings_sign_up_in_waves_days_apart_that_only_the_window_joins():
    """A bulk ring of 40+ accounts comes in waves two days apart, on the ring's devices: one
    day's counts see a wave, the graph over the window sees the ring."""
    cfg = small_config(n_accounts=6000, days=10)
    world = build_world(cfg)
    truth = world.ground_truth.to_pandas()
    rings = truth[truth.truth.isin(["abusive_account", "fake_engagement"])]
    start, last = pd.Timestamp(cfg.start_ds), pd.Timestamp(cfg.start_ds) + pd.Timedelta(days=cfg.days - 1)
    waved = 0
    for _, ring in rings.groupby("cluster_id"):
        if ring.created_at.min() < start - pd.Timedelta(days=3):
            continue  # an old or taken-over ring: no signup wave
        # Each wave within an hour, 48 hours after the one before, unless the period ended
        # first (then in the first hour of its last day).
        hours = (ring.created_at - ring.created_at.min()) / pd.Timedelta(hours=1)
        clipped = (ring.created_at >= last) & (ring.created_at < last + pd.Timedelta(hours=1))
        assert ((hours % 48 < 1.5) | (hours % 48 > 46.5) | clipped).all(), sorted(hours)
        waves = ((hours + 1.5) // 48)[~clipped].nunique() + clipped.any()
        family = ring.truth.iloc[0]
        assert waves <= max(1, len(ring) // {"abusive_account": 20, "fake_engagement": 10}[family])
        waved += waves > 1
    assert waved >= 3
    # The waves act on the ring's devices: on a day, accounts of two waves use one device.
    day = generate_day(cfg, cfg.day_list()[-1]).user_events.to_pandas().merge(truth, on="account_id")
    ring_events = day[day.truth == "abusive_account"]
    waves_per_device = ring_events.groupby("device_id").created_at.agg(lambda t: t.dt.floor("D").nunique())
    assert waves_per_device.max() >= 2


def test_spammers_link_to_rotating_spam_domains_and_small_businesses_post_links(world):
    _, _, _, events = world
    linked = events[events.url.notna() & events.event_type.isin(["post", "comment", "message"])]
    link_rate = (
        linked.groupby("truth").size()
        / events[events.event_type.isin(["post", "comment", "message"])].groupby("truth").size()
    )
    assert link_rate["spam_redirect"] > 0.5 > link_rate["benign"]
    domains = linked.url.str.extract(r"https://([^/]+)/")[0]
    spam_domains = set(domains[linked.truth == "spam_redirect"])
    benign_domains = set(domains[linked.truth == "benign"])
    assert spam_domains - benign_domains
    # Redirectors are shared with benign users, so the domain alone does not decide.
    assert spam_domains & benign_domains
    by_day = linked[linked.truth == "spam_redirect"].assign(d=domains).groupby("ds").d.apply(set)
    assert by_day.iloc[-1] - by_day.iloc[0]
    business = linked[linked.benign_trait == "link_business"]
    assert len(business) > 20


def test_fraud_tests_cards_with_small_failing_payments_from_other_countries(world):
    _, _, _, events = world
    pay = events[events.event_type == "payment_attempt"]
    fraud, benign = pay[pay.truth == "fraud"], pay[pay.truth == "benign"]
    assert (fraud.status == "fail").mean() > 0.5 > (benign.status == "fail").mean()
    assert (fraud.amount < 5).mean() > 0.5 > (benign.amount < 5).mean()
    assert (fraud.country != fraud.profile_country).mean() > 0.3
    assert (fraud.country != fraud.profile_country).mean() > 3 * (benign.country != benign.profile_country).mean()
    # People whose card fails exist, so failures alone do not make fraud.
    card_fail = pay[pay.benign_trait == "card_fail"]
    assert (card_fail.status == "fail").mean() > 0.2


def test_drift_slows_attackers_and_drops_their_headless_agents(tmp_path):
    cfg = small_config(n_accounts=1200, days=8, drift=1.0, attack_shares={"scraping": 0.05})
    world = build_world(cfg)
    truth = world.ground_truth.to_pandas()
    # Those already scraping on the first day, so both days compare the same attackers.
    scrapers = set(truth[(truth.truth == "scraping") & (truth.abuse_start_ds <= cfg.start_ds)].account_id)
    assert len(scrapers) >= 10

    def scraping_day(ds):
        ev = generate_day(cfg, ds, world).user_events.to_pandas()
        ev = ev[ev.account_id.isin(scrapers)]
        return len(ev) / ev.account_id.nunique(), ev.user_agent.str.contains(HEADLESS).mean()

    first_rate, first_headless = scraping_day(cfg.day_list()[0])
    last_rate, last_headless = scraping_day(cfg.day_list()[-1])
    assert last_rate < 0.8 * first_rate
    assert last_headless < 0.5 * first_headless


# --- scenarios: a cut-over and outages ------------------------------------------------------------

CUTOVER = "2026-03-03"


@pytest.fixture(scope="module")
def cutover_pair():
    """The same 4-day world without and with a cut-over on its third day (no gradual drift)."""
    base = small_config(n_accounts=1500, drift=0.0)
    adapted = small_config(n_accounts=1500, drift=0.0, cutover_ds=CUTOVER)
    days = {}
    for cfg in (base, adapted):
        truth = build_world(cfg).ground_truth.to_pandas()[["account_id", "truth", "abuse_start_ds"]]
        for ds in cfg.day_list():
            events = generate_day(cfg, ds).user_events
            days[cfg.cutover_ds, ds] = (events, events.to_pandas().merge(truth, on="account_id"))
    return base, days


def fingerprints(events: pd.DataFrame, profiles: pd.DataFrame) -> dict[str, float]:
    """One figure per family that its adaptation moves (see ``events.behaviour``)."""
    own = profiles[["account_id", "country", "signup_device_id"]].rename(columns={"country": "home"})
    ev = events.merge(own, on="account_id")
    fraud_pay = ev[(ev.truth == "fraud") & (ev.event_type == "payment_attempt")]
    scraper = ev[ev.truth == "scraping"]
    bulk = ev[ev.truth == "abusive_account"]
    spam = ev[(ev.truth == "spam_redirect") & ev.url.notna()]
    ring = ev[(ev.truth == "fake_engagement") & ev.event_type.isin(["like", "follow"])]
    return {
        "fraud small payments": float((fraud_pay.amount < 5).mean()),
        "fraud country mismatch": float((fraud_pay.country != fraud_pay.home).mean()),
        "scraper headless": float(scraper.user_agent.str.contains(HEADLESS).mean()),
        # Off their own device, bulk accounts act from the batch's device farm.
        "bulk off own device": float((bulk.device_id != bulk.signup_device_id).mean()),
        "spam via shorteners": float(spam.url.str.extract(r"https://([^/]+)/")[0].isin(SHORTENERS).mean()),
        # Rings hit their few shared targets.
        "ring top-target share": float(ring.target_account_id.value_counts().head(20).sum() / len(ring)),
    }


def test_a_cutover_changes_every_family_from_its_day_on_and_nothing_before(cutover_pair):
    base, days = cutover_pair
    profiles = build_world(base).profiles.to_pandas()
    before, after = base.day_list()[:2], base.day_list()[2:]
    for ds in before:
        assert days[None, ds][0].equals(days[CUTOVER, ds][0]), ds
    for ds in after:
        normal = fingerprints(days[None, ds][1], profiles)
        adapted = fingerprints(days[CUTOVER, ds][1], profiles)
        for name, value in normal.items():
            # Each fingerprint moves by a fifth or more (of its own value, or of the whole scale).
            assert abs(adapted[name] - value) > 0.2 * min(value, 1 - value), (ds, name, value, adapted[name])
        assert adapted["fraud small payments"] < normal["fraud small payments"]
        assert adapted["fraud country mismatch"] < normal["fraud country mismatch"]
        assert adapted["scraper headless"] < 0.5 * normal["scraper headless"]
        assert adapted["bulk off own device"] < normal["bulk off own device"]
        assert adapted["ring top-target share"] < normal["ring top-target share"]
        assert adapted["spam via shorteners"] > normal["spam via shorteners"]


def test_a_cutover_keeps_every_volume_and_the_benign_traffic(cutover_pair):
    base, days = cutover_pair
    for ds in base.day_list()[2:]:
        normal, adapted = days[None, ds][1], days[CUTOVER, ds][1]
        # Behaviour only: every account's events per type are those of the world without it,
        # so upstream volume per event type (and the clean-row count) cannot trip a health gate.
        counts = [frame.groupby(["account_id", "event_type"]).size().sort_index() for frame in (normal, adapted)]
        pd.testing.assert_series_equal(counts[0], counts[1])
        assert not adapted.event_id.duplicated().any()
        # No dirt either (NULL countries are upstream's documented unknown geolocation, as before).
        found = symptoms(adapted, ds)
        assert found == symptoms(normal, ds) and found == {
            **dict.fromkeys(DIRTY_KINDS, 0),
            "null_country": found["null_country"],
        }
        # Benign accounts act as before: the same times, and the same mix of agents and links.
        benign = [frame[frame.truth == "benign"] for frame in (normal, adapted)]
        times = [b.sort_values(["account_id", "event_time"]).event_time.to_numpy() for b in benign]
        assert (times[0] == times[1]).all()
        for column in ("user_agent", "country", "status"):
            shares = [b[column].value_counts(normalize=True) for b in benign]
            assert (shares[0] - shares[1]).abs().max() < 0.01, column


def test_a_cutover_can_be_limited_to_some_families():
    cfg = small_config(n_accounts=1500, drift=0.0, cutover_ds=CUTOVER, cutover_families=("fraud",))
    base = small_config(n_accounts=1500, drift=0.0)
    truth = build_world(cfg).ground_truth.to_pandas()[["account_id", "truth"]]
    profiles = build_world(base).profiles.to_pandas()
    ds = base.day_list()[3]
    adapted = fingerprints(generate_day(cfg, ds).user_events.to_pandas().merge(truth, on="account_id"), profiles)
    normal = fingerprints(generate_day(base, ds).user_events.to_pandas().merge(truth, on="account_id"), profiles)
    assert adapted["fraud small payments"] < 0.8 * normal["fraud small payments"]
    assert adapted["scraper headless"] == pytest.approx(normal["scraper headless"], abs=0.05)
    assert adapted["bulk off own device"] == pytest.approx(normal["bulk off own device"], abs=0.05)


OUTAGE_DAY = "2026-03-02"


@pytest.mark.parametrize("kind", ["missing_event_type:payment_attempt", "half_loaded", "duplicated_load"])
def test_each_outage_shows_in_its_written_partition_only(kind, tmp_path):
    normal_cfg = small_config(n_accounts=600, days=3, dirty_share=0.01)
    cfg = small_config(n_accounts=600, days=3, dirty_share=0.01, outages={OUTAGE_DAY: kind})
    normal, broken = write_world(normal_cfg, tmp_path / "normal"), write_world(cfg, tmp_path / "broken")
    for ds in cfg.day_list():
        for table in SCHEMAS:
            a = pq.read_table(tmp_path / "normal" / "raw" / table / f"ds={ds}")
            b = pq.read_table(tmp_path / "broken" / "raw" / table / f"ds={ds}")
            if table != "user_events" or ds != OUTAGE_DAY:
                assert a.equals(b), (table, ds)
    assert (tmp_path / "normal/truth/ground_truth.parquet").read_bytes() == (
        tmp_path / "broken/truth/ground_truth.parquet"
    ).read_bytes()
    full = pq.read_table(tmp_path / "normal/raw/user_events" / f"ds={OUTAGE_DAY}").to_pandas()
    day = pq.read_table(tmp_path / "broken/raw/user_events" / f"ds={OUTAGE_DAY}").to_pandas()
    assert broken.rows("user_events", OUTAGE_DAY) == len(day)
    if kind.startswith("missing_event_type"):
        assert (full.event_type == "payment_attempt").sum() > 20
        assert "payment_attempt" not in set(day.event_type)
        pd.testing.assert_frame_equal(
            day.reset_index(drop=True), full[full.event_type != "payment_attempt"].reset_index(drop=True)
        )
    elif kind == "half_loaded":
        assert len(day) == len(full) // 2
        pd.testing.assert_frame_equal(day, full.iloc[: len(full) // 2])
    else:
        assert len(day) == 2 * len(full) and day.event_id.value_counts().eq(2 * full.event_id.value_counts()).all()
        assert day.event_id.nunique() == full.event_id.nunique()
    # The dirty manifest names only rows that are in the partition.
    manifest = pq.read_table(tmp_path / "broken/truth/dirty_events.parquet").to_pandas()
    assert set(manifest.event_id[manifest.ds == OUTAGE_DAY]) <= set(day.event_id)
    assert normal.rows("user_events") != broken.rows("user_events")


def test_scenarios_write_the_same_bytes_for_the_same_seed(tmp_path):
    params = dict(n_accounts=400, days=3, dirty_share=0.01, cutover_ds="2026-03-02")
    params["outages"] = {"2026-03-03": "duplicated_load", "2026-03-01": "missing_event_type:login"}
    write_world(small_config(**params), tmp_path / "a")
    write_world(small_config(**params), tmp_path / "b")
    assert file_digests(tmp_path / "a") == file_digests(tmp_path / "b")
    assert (tmp_path / "a/world.json").read_bytes() == (tmp_path / "b/world.json").read_bytes()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"outages": {"2026-03-02": "half_load"}}, "unknown outage kind 'half_load'"),
        ({"outages": {"2026-03-09": "half_loaded"}}, "outages: day '2026-03-09' is outside the world's period"),
        ({"outages": {"2026-03-02": "missing_event_type:purchase"}}, "'missing_event_type:purchase' needs one of"),
        ({"outages": {"2026-03-02": "missing_event_type"}}, "needs one of"),
        ({"outages": {"2026-03-02": "duplicated_load:2"}}, "takes no argument"),
        ({"cutover_ds": "2026-03-09"}, "cutover_ds '2026-03-09' must be a day after the first one"),
        ({"cutover_ds": "2026-03-01"}, "cutover_ds '2026-03-01' must be a day after the first one"),
        ({"cutover_ds": "2026-03-02", "cutover_families": ("phishing",)}, "cutover_families has unknown families"),
    ],
)
def test_a_bad_scenario_is_refused_naming_it(params, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        small_config(**params)


def test_the_cli_writes_a_cutover_and_outages(tmp_path, capsys):
    argv = ["--start", "2026-03-01", "--days", "3", "--accounts", "300", "--out", str(tmp_path)]
    argv += ["--cutover", "2026-03-02", "--cutover-families", "fraud,scraping", "--outage", "2026-03-03=half_loaded"]
    assert cli_main(argv) == 0
    config = __import__("json").loads((tmp_path / "world.json").read_text())["config"]
    assert config["cutover_ds"] == "2026-03-02" and config["cutover_families"] == ["scraping", "fraud"]
    assert config["outages"] == {"2026-03-03": "half_loaded"}
    with pytest.raises(SystemExit):
        cli_main([*argv[:-1], "2026-03-03=tripled"])
    assert "unknown outage kind 'tripled'" in capsys.readouterr().err


# --- profiles and labels ---------------------------------------------------------------------


def test_profiles_snapshot_every_account_existing_at_the_end_of_each_day(world):
    cfg, files, truth, events = world
    counts = [files.rows("account_profiles", ds) for ds in cfg.day_list()]
    assert counts == sorted(counts) and counts[-1] > counts[0]
    assert counts[-1] == len(truth) == cfg.n_accounts
    for part in (p for p in files.partitions if p.table == "account_profiles"):
        profiles = pq.read_table(part.path).to_pandas()
        end = pd.Timestamp(part.ds) + pd.Timedelta(days=1)
        assert (profiles.created_at < end).all()
        day_accounts = set(events.account_id[events.ds == part.ds])
        assert day_accounts <= set(profiles.account_id)
        assert len(truth[truth.created_at < end]) == len(profiles)


def all_labels(files) -> pd.DataFrame:
    return pd.concat(
        [pq.read_table(p.path).to_pandas().assign(ds=p.ds) for p in files.partitions if p.table == "enforcement_labels"]
    )


def test_labels_arrive_after_the_abuse_are_incomplete_and_use_the_fixed_vocabulary(world):
    cfg, files, truth, _ = world
    labels = all_labels(files)
    assert set(labels.risk_type) <= set(RISK_TYPES)
    assert set(labels.source) <= {"reviewer", "appeal", "user_report", "chargeback"}
    assert set(labels.label) == {0, 1}
    assert (labels.labeled_at.dt.strftime("%Y-%m-%d") == labels.ds).all()
    positives = labels[labels.label == 1].merge(truth, on="account_id")
    true_pos = positives[positives.truth == positives.risk_type]
    low, _ = cfg.label_delay_days
    delay = (true_pos.labeled_at.dt.normalize() - pd.to_datetime(true_pos.abuse_start_ds)).dt.days
    assert (delay >= low).all()
    abusers = truth[truth.truth != "benign"]
    assert true_pos.account_id.nunique() < 0.6 * len(abusers)


def test_labels_include_noise_and_appeal_reversals_and_cleared_benign_accounts():
    cfg = small_config(n_accounts=3000, days=14, label_noise=0.02)
    world = build_world(cfg)
    labels = world.labels.to_pandas().merge(world.ground_truth.to_pandas(), on="account_id")
    noise = labels[(labels.label == 1) & (labels.truth == "benign")]
    assert len(noise) > 0 and set(noise.source) == {"user_report"}
    appeals = labels[labels.source == "appeal"]
    assert len(appeals) > 0 and (appeals.label == 0).all()
    for _, appeal in appeals.iterrows():
        earlier = labels[
            (labels.account_id == appeal.account_id)
            & (labels.risk_type == appeal.risk_type)
            & (labels.labeled_at < appeal.labeled_at)
        ]
        assert (earlier.label == 1).any()
    cleared = labels[(labels.source == "reviewer") & (labels.label == 0) & (labels.truth == "benign")]
    assert len(cleared) > 0
    assert (labels[labels.source == "chargeback"].risk_type == "fraud").all()


# --- dirty rows ------------------------------------------------------------------------------


def dirty_day(kinds, share=0.02):
    cfg = small_config(n_accounts=600, days=1, dirty_share=share, dirty_kinds=kinds, geo_unknown_rate=0.0)
    clean = generate_day(small_config(n_accounts=600, days=1, geo_unknown_rate=0.0), cfg.start_ds)
    return cfg, clean.user_events, generate_day(cfg, cfg.start_ds)


def symptoms(events: pd.DataFrame, ds: str) -> dict[str, int]:
    """How many rows of the day show each kind of dirt."""
    start = pd.Timestamp(ds)
    times = events.event_time.dropna()
    return {
        "duplicate": int(events.event_id.duplicated().sum()),
        "null_account": int(events.account_id.isna().sum()),
        "null_time": int(events.event_time.isna().sum()),
        "null_country": int(events.country.isna().sum()),
        "out_of_day": int(((times < start) | (times >= start + pd.Timedelta(days=1))).sum()),
        "bad_amount": int(((events.amount < 0) | (events.amount > 1e6)).sum()),
        "unknown_event_type": int((~events.event_type.isin(EVENT_TYPES)).sum()),
        "oversized": int(((events.url.str.len() > 4096) | (events.user_agent.str.len() > 4096)).sum()),
    }


def test_a_clean_day_has_none_of_the_dirty_symptoms():
    cfg, clean, _ = dirty_day(DIRTY_KINDS)
    assert symptoms(clean.to_pandas(), cfg.start_ds) == dict.fromkeys(DIRTY_KINDS, 0)


@pytest.mark.parametrize("kind", DIRTY_KINDS)
def test_one_dirty_kind_is_injected_alone_at_the_configured_share(kind):
    cfg, clean, day = dirty_day((kind,))
    expected = round(0.02 * clean.num_rows)
    found = symptoms(day.user_events.to_pandas(), cfg.start_ds)
    assert found == {k: (expected if k == kind else 0) for k in DIRTY_KINDS}
    assert day.dirty.num_rows == expected and set(day.dirty.column("kind").to_pylist()) == {kind}
    extra = expected if kind == "duplicate" else 0
    assert day.user_events.num_rows == clean.num_rows + extra


def test_all_dirty_kinds_together_split_the_share_evenly():
    cfg, clean, day = dirty_day(DIRTY_KINDS, share=0.04)
    total = round(0.04 * clean.num_rows)
    per_kind = day.dirty.to_pandas().kind.value_counts()
    assert per_kind.sum() == total and set(per_kind.index) == set(DIRTY_KINDS)
    assert per_kind.max() - per_kind.min() <= 1
    found = symptoms(day.user_events.to_pandas(), cfg.start_ds)
    for kind in DIRTY_KINDS:
        assert found[kind] == per_kind[kind], kind


def test_loading_takes_only_the_partitions_of_the_last_world_written_there(tmp_path):
    from integrity_local.synthetic import written_partitions

    write_world(small_config(n_accounts=200, days=3), tmp_path)
    write_world(small_config(n_accounts=200, days=2), tmp_path)
    assert [(t, ds) for t, ds, _ in written_partitions(tmp_path)] == [
        (t, ds) for ds in ("2026-03-01", "2026-03-02") for t in SCHEMAS
    ]


def test_a_bad_config_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="dirty_kinds has unknown kinds"):
        WorldConfig(dirty_kinds=("nulls",))
    with pytest.raises(ValueError, match="attack_shares has unknown families"):
        WorldConfig(attack_shares={"phishing": 0.1})
    with pytest.raises(ValueError, match="start_ds must look like YYYY-MM-DD"):
        WorldConfig(start_ds="2026/03/01")
    with pytest.raises(ValueError, match="outside the world's period"):
        generate_day(small_config(n_accounts=200, days=2), "2026-03-05")


# --- speed, CLI and Hive ------------------------------------------------------------------------


def test_generation_runs_at_more_than_a_million_events_a_minute():
    cfg = small_config(n_accounts=8000, days=1, dirty_share=0.002)
    build_world(cfg)
    started = time.perf_counter()
    day = generate_day(cfg, cfg.start_ds)
    per_minute = day.user_events.num_rows / (time.perf_counter() - started) * 60
    assert day.user_events.num_rows > 100_000
    assert per_minute > 1_000_000, f"{per_minute:,.0f} events a minute"


def test_the_cli_writes_the_partitions_and_the_ground_truth(tmp_path, capsys):
    assert (
        cli_main(["--start", "2026-03-01", "--days", "2", "--seed", "3", "--accounts", "300", "--out", str(tmp_path)])
        == 0
    )
    assert "user_events:" in capsys.readouterr().out
    for table in SCHEMAS:
        assert sorted(p.name for p in (tmp_path / "raw" / table).iterdir()) == ["ds=2026-03-01", "ds=2026-03-02"]
    assert (tmp_path / "truth" / "ground_truth.parquet").exists()


def test_two_days_load_into_hiveserver2_and_count_back(hive_hook, tmp_path):
    cfg = small_config(n_accounts=300, days=2, dirty_share=0.01)
    files = write_world(cfg, tmp_path)
    assert len(load_world(hive_hook, tmp_path)) == 3 * 2
    for table, schema in SCHEMAS.items():
        header = hive_hook.get_results(f"SELECT * FROM raw.{table} LIMIT 0")["header"]
        assert [(name.split(".")[-1], kind) for name, kind, *_ in header] == [
            (f.name, HIVE_TYPE_NAMES[f.type]) for f in schema
        ] + [("ds", "STRING_TYPE")]
    # Other tests share the session's HiveServer2: count this world's days only.
    days = ", ".join(f"'{ds}'" for ds in cfg.day_list())
    counts = hive_hook.get_records(
        " UNION ALL ".join(
            f"SELECT '{table}', ds, count(*) FROM raw.{table} WHERE ds IN ({days}) GROUP BY ds" for table in SCHEMAS
        )
    )
    assert sorted(counts) == sorted(
        (table, ds, files.rows(table, ds)) for table in SCHEMAS for ds in cfg.day_list() if files.rows(table, ds)
    )
    # Values, not just counts: timestamps, NULLs and doubles read back as written.
    events = pq.read_table(tmp_path / "raw/user_events/ds=2026-03-02").to_pandas()
    times = events.event_time.dropna()
    got = hive_hook.get_records(
        "SELECT CAST(min(event_time) AS STRING), CAST(max(event_time) AS STRING), "
        "count(DISTINCT event_id), sum(CASE WHEN account_id IS NULL THEN 1 ELSE 0 END), "
        "round(sum(amount), 2) FROM raw.user_events WHERE ds = '2026-03-02'"
    )
    ((first, last, distinct_ids, null_accounts, amount),) = got
    assert (pd.Timestamp(first), pd.Timestamp(last)) == (times.min(), times.max())
    assert (distinct_ids, null_accounts) == (events.event_id.nunique(), int(events.account_id.isna().sum()))
    assert amount == pytest.approx(float(events.amount.sum()), rel=1e-9)
    profile = pq.read_table(tmp_path / "raw/account_profiles/ds=2026-03-02").to_pandas().iloc[0]
    ((created_at, verified, business),) = hive_hook.get_records(
        "SELECT CAST(created_at AS STRING), phone_verified, is_business FROM raw.account_profiles "
        f"WHERE ds = '2026-03-02' AND account_id = '{profile.account_id}'"
    )
    assert (pd.Timestamp(created_at), verified, business) == (
        profile.created_at,
        bool(profile.phone_verified),
        bool(profile.is_business),
    )
