"""Contact policy: consent, caps and quiet hours are never violated (property-based);
cooldowns per action or per action x channel; suppression after ignores only where declared."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from engine import Engine
from engine.catalog import parse_catalog
from engine.contact import ContactPolicy, in_quiet_hours
from features.state import Contact, Slot

START = datetime(2026, 3, 2, tzinfo=UTC).timestamp()
TZ = {"c0": "Europe/Paris", "c1": "America/Los_Angeles", "c2": "Asia/Tokyo"}
OPT_IN = ("email", "sms", "push", "voice")

ops = st.lists(st.tuples(
    st.sampled_from(["consent", "view", "add", "page", "app", "order", "wait"]),
    st.sampled_from(sorted(TZ)),
    st.dictionaries(st.sampled_from((*OPT_IN, "web", "app")), st.booleans(), max_size=4),
    st.integers(1, 6 * 3600)), min_size=5, max_size=60)


def _event(kind: str, user: str, ts: float, consent: dict[str, bool]) -> dict:
    base = {"userId": user, "timestamp": datetime.fromtimestamp(ts, UTC).isoformat(),
            "context": {"timezone": TZ[user]}}
    if kind == "consent":
        return {**base, "type": "identify", "traits": {"consent": consent}}
    if kind in ("page", "app"):
        placement = "cart_page" if kind == "page" else "app_home"
        return {**base, "type": "page", "properties": {"placement": placement}}
    name = {"view": "Product Viewed", "add": "Product Added", "order": "Order Completed"}[kind]
    return {**base, "type": "track", "event": name,
            "properties": {"price": 60, "quantity": 1, "category": "shoes", "revenue": 60}}


@settings(max_examples=60, deadline=None, derandomize=True)
@given(ops)
def test_decisions_respect_consent_caps_and_quiet_hours(catalog, seq):
    eng = Engine(catalog, seed=3)
    ts = START
    granted: dict[str, dict[str, bool]] = {u: {} for u in TZ}
    sent: list[tuple[str, float, str]] = []
    for kind, user, consent, gap in seq:
        ts += gap
        if kind == "wait":
            decisions = eng.advance_to(ts)
        else:
            decisions = eng.process(_event(kind, user, ts, consent))
        for d in decisions:  # consent in force when the decision was made
            ch = d.channel
            assert granted[d.customer_id].get(ch, ch not in OPT_IN), (d.channel, granted)
            sent.append((d.customer_id, d.ts, ch))
            local = datetime.fromtimestamp(sent[-1][1], ZoneInfo(TZ[d.customer_id]))
            if catalog.channels[ch].quiet_hours:
                assert not in_quiet_hours(local.hour + local.minute / 60, 21, 8)
        if kind == "consent":
            granted[user].update(consent)
    for user, t, ch in sent:
        policy = catalog.channels[ch]
        same = [s for s in sent
                if s[0] == user and s[2] == ch and t - policy.cap_window < s[1] <= t]
        assert len(same) <= policy.cap_count
        if policy.outbound:
            window = catalog.total_cap[1]
            out = [s for s in sent if s[0] == user and catalog.channels[s[2]].outbound
                   and t - window < s[1] <= t]
            assert len(out) <= catalog.total_cap[0]


def test_quiet_hours_wrap_past_midnight():
    assert in_quiet_hours(22.5, 21, 8) and in_quiet_hours(3.0, 21, 8)
    assert not in_quiet_hours(8.0, 21, 8) and not in_quiet_hours(12.0, 21, 8)
    assert in_quiet_hours(13.0, 12, 14) and not in_quiet_hours(14.0, 12, 14)


def test_missing_consent_denies_opt_in_channels(catalog, make_event):
    eng = Engine(catalog, seed=1)
    eng.process(make_event("track", "Product Added", properties={"price": 80, "quantity": 1}))
    decisions = eng.advance_to(START + 10 * 86400)
    assert decisions == [] or all(d.channel not in OPT_IN for d in decisions)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(granted=st.integers(0, 127), denied=st.integers(0, 127), tz=st.integers(-10, 12),
       contacts=st.lists(st.tuples(st.integers(0, 7 * 86400), st.integers(0, 6)), max_size=12),
       placement=st.sampled_from([None, "cart_page", "app_home", "support_chat", "nowhere"]))
def test_open_channels_satisfy_every_rule(catalog, granted, denied, tz, contacts, placement):
    channels = catalog.world.channels  # consent bits and contact channels follow this order
    state = catalog.layout.new_state("u", known=True)
    state.consent_granted, state.consent_denied = granted & ~denied, denied
    state.row[Slot.TZ_OFFSET_H] = tz
    now = START + 7 * 86400
    state.contacts = [Contact(now - age, "any_action", channels[ch]) for age, ch in contacts]
    ok, reasons = ContactPolicy(catalog).channels(state, now, placement)
    hour = ((now / 3600 + tz) % 24)
    for i, name in enumerate(channels):
        if not ok[i]:
            continue
        policy = catalog.channels[name]
        bit = 1 << i
        assert not denied & bit and (not policy.opt_in or granted & bit)
        assert sum(1 for c in state.contacts if c.channel == name
                   and now - c.ts < policy.cap_window) < policy.cap_count
        if policy.outbound:
            assert sum(1 for c in state.contacts if catalog.channels[c.channel].outbound
                       and now - c.ts < catalog.total_cap[1]) < catalog.total_cap[0]
            assert placement is None
        if policy.quiet_hours:
            assert not in_quiet_hours(hour, catalog.quiet_start, catalog.quiet_end)
        if placement is not None:
            assert name in catalog.placements.get(placement, ())
    assert set(reasons) <= set(channels) and not any(ok[channels.index(c)] for c in reasons)


POLICY = """\
version: "p"
channels:
  web: {cost: 0}
  email: {cost: 0.1, outbound: true}
actions:
  - id: per_action
    channels: [web, email]
    cooldown: 1d
    messages: {web: "A", email: "A"}
  - id: per_channel
    channels: [web, email]
    cooldown: 1d
    cooldown_scope: channel
    messages: {web: "C", email: "C"}
  - id: suppressed
    channels: [web]
    suppress_after_ignores: 2
    messages: {web: "S"}
  - id: not_suppressed
    channels: [web]
    messages: {web: "N"}
"""
DAY = 86400.0


def test_cooldowns_hold_per_action_or_per_action_and_channel():
    cat = parse_catalog(POLICY, "p.yaml")
    policy, state = ContactPolicy(cat), cat.layout.new_state("u", known=True)
    state.last_sent["per_action@email"] = START
    state.last_sent["per_channel@email"] = START
    ok, t_ok = policy.actions(state, START + DAY - 1)
    assert list(ok) == [0, 1, 1, 1]  # per_action: every channel waits
    assert [cat.treatment_id(t) for t in range(cat.n_treatments) if not t_ok[t]] == [
        "per_channel@email"]  # per_channel: only the channel it was sent on
    ok, t_ok = policy.actions(state, START + DAY)
    assert ok.all() and t_ok.all()


def test_suppression_after_ignores_only_where_declared_and_it_lifts_as_they_decay():
    cat = parse_catalog(POLICY, "p.yaml")
    assert [a.suppress_after for a in cat.actions] == [0, 0, 2, 0]  # off unless declared
    policy, state = ContactPolicy(cat), cat.layout.new_state("u", known=True)
    state.ignores = {"suppressed": (3.0, START), "not_suppressed": (50.0, START)}
    # three ignores decay with a 14-day constant: below 2 after 14 d * ln(3/2) = 5.68 days
    assert list(policy.actions(state, START)[0]) == [1, 1, 0, 1]
    assert list(policy.actions(state, START + 5.6 * DAY)[0]) == [1, 1, 0, 1]
    assert list(policy.actions(state, START + 5.7 * DAY)[0]) == [1, 1, 1, 1]
    state.ignores = {"suppressed": (1.0, START)}
    assert policy.actions(state, START)[0].all()
