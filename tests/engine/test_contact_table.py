"""The contact policy, pinned at its limits: every expected mask and reason below is written
by hand from the small catalog in this file (never read back from the parsed catalog).

Channel order (consent bits): web=1, app=2, email=4, push=8, sms=16.
Treatment order: a_action@web, a_action@email, a_channel@web, a_channel@email, a_supp@web,
a_free@web, a_once@web.
"""

from __future__ import annotations

import math

import pytest

from engine.catalog import Catalog, parse_catalog
from engine.contact import ContactPolicy, in_quiet_hours
from features.state import Contact, CustomerState, Slot

T0 = 1772409600.0  # 2026-03-02T00:00:00Z (20514 days), a Monday; Paris is UTC+1 that day
H = 3600.0
DAY = 86400.0
PARIS = 1.0  # CET in March before the switch to summer time (29 March 2026)
WEB, APP, EMAIL, PUSH, SMS = 1, 2, 4, 8, 16
C0 = T0 + 9 * H  # 09:00 UTC: caps are tested outside quiet hours

CATALOG = """\
version: "t"
channels:
  web: {cost: 0, cap: {count: 3, window: 1d}}
  app: {cost: 0}
  email: {cost: 0.02, opt_in: true, outbound: true, cap: {count: 2, window: 1d}}
  push: {cost: 0.01, opt_in: true, outbound: true, quiet_hours: true,
         cap: {count: 5, window: 1d}}
  sms: {cost: 0.08, outbound: true, quiet_hours: true, cap: {count: 1, window: 3d}}
contact_policy:
  total_cap: {count: 3, window: 1d}
  quiet_hours: {start: 21, end: 8}
placements: {cart_page: [web], app_home: [app], both: [web, app]}
actions:
  - id: a_action
    channels: [web, email]
    cooldown: 1d
    messages: {web: "A", email: "A"}
  - id: a_channel
    channels: [web, email]
    cooldown: 2h
    cooldown_scope: channel
    messages: {web: "C", email: "C"}
  - id: a_supp
    channels: [web]
    suppress_after_ignores: 2
    messages: {web: "S"}
  - id: a_free
    channels: [web]
    cooldown: 0
    messages: {web: "F"}
  - id: a_once
    channels: [web]
    suppress_after_ignores: 1
    messages: {web: "O"}
"""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return parse_catalog(CATALOG, "t.yaml")


@pytest.fixture
def policy(catalog: Catalog) -> ContactPolicy:
    return ContactPolicy(catalog)  # per test: mutmut maps __init__ to every test that uses it


def _state(policy: ContactPolicy, *, granted: int = EMAIL | PUSH | SMS, denied: int = 0,
           tz: float = 0.0, contacts: tuple[tuple[float, str], ...] = ()) -> CustomerState:
    s = policy.catalog.layout.new_state("u", known=True)
    s.consent_granted, s.consent_denied = granted, denied
    s.row[Slot.TZ_OFFSET_H] = tz
    s.contacts = [Contact(ts, "a_action", ch) for ts, ch in contacts]
    return s


def _open(policy: ContactPolicy, state: CustomerState, now: float,
          placement: str | None = None) -> tuple[list[str], dict[str, str]]:
    ok, reasons = policy.channels(state, now, placement)
    assert ok.dtype.name == "uint8" and ok.shape == (5,)
    names = ["web", "app", "email", "push", "sms"]
    return [n for n, bit in zip(names, ok, strict=True) if bit == 1], reasons


@pytest.mark.parametrize(("hour", "start", "end", "quiet"), [
    (20.99, 21, 8, False), (21.0, 21, 8, True), (23.5, 21, 8, True), (0.0, 21, 8, True),
    (7.99, 21, 8, True), (8.0, 21, 8, False), (12.0, 21, 8, False),
    (11.99, 12, 14, False), (12.0, 12, 14, True), (13.99, 12, 14, True), (14.0, 12, 14, False),
    (0.0, 5, 5, False), (5.0, 5, 5, False), (23.0, 5, 5, False),
])
def test_quiet_hours_bounds(hour, start, end, quiet):
    assert in_quiet_hours(hour, start, end) is quiet


# noon UTC, every opt-in granted, no contacts: what each placement may use
@pytest.mark.parametrize(("placement", "opened"), [
    (None, ["email", "push", "sms"]),  # outbound channels only
    ("cart_page", ["web"]),
    ("app_home", ["app"]),
    ("both", ["web", "app"]),
    ("nowhere", []),
])
def test_placement_decides_which_channels_are_considered(policy, placement, opened):
    assert _open(policy, _state(policy), T0 + 12 * H, placement) == (opened, {})


@pytest.mark.parametrize(("granted", "denied", "placement", "opened", "reasons"), [
    (0, 0, None, ["sms"], {"email": "consent", "push": "consent"}),  # opt-in needs a grant
    (EMAIL, 0, None, ["email", "sms"], {"push": "consent"}),
    (EMAIL | PUSH, SMS, None, ["email", "push"], {"sms": "consent"}),  # a denial closes sms
    (EMAIL | PUSH, EMAIL, None, ["push", "sms"], {"email": "consent"}),  # denial beats grant
    (0, 0, "both", ["web", "app"], {}),  # inbound channels are not opt-in
    (0, WEB, "both", ["app"], {"web": "consent"}),
    (WEB | APP, APP, "both", ["web"], {"app": "consent"}),
])
def test_consent(policy, granted, denied, placement, opened, reasons):
    s = _state(policy, granted=granted, denied=denied)
    assert _open(policy, s, T0 + 12 * H, placement) == (opened, reasons)


def test_email_cap_two_per_day_third_closed_then_open_at_exactly_24h(policy):
    s = _state(policy, granted=EMAIL, contacts=((C0, "email"), (C0 + 1 * H, "email")))
    assert _open(policy, s, C0 + 2 * H) == (["sms"], {"email": "channel_cap",
                                                       "push": "consent"})
    # cap 2: one email in the last day still leaves room
    one = _state(policy, granted=EMAIL, contacts=((C0, "email"),))
    assert _open(policy, one, C0 + 2 * H)[0] == ["email", "sms"]
    for now, email_open in ((C0 + 2 * H, False), (C0 + DAY - 1, False),
                            (C0 + DAY, True), (C0 + DAY + H - 1, True), (C0 + DAY + H, True)):
        opened, reasons = _open(policy, s, now)
        assert ("email" in opened) is email_open, now - C0
        assert reasons.get("email") == (None if email_open else "channel_cap")


def test_a_channel_cap_counts_only_that_channel(policy):
    # two pushes in the last hour do not fill email's cap (and stay below push's own 5)
    s = _state(policy, contacts=((C0, "push"), (C0 + 60, "push")))
    assert _open(policy, s, C0 + H) == (["email", "push", "sms"], {})


def test_sms_cap_one_per_three_days(policy):
    s = _state(policy, contacts=((C0, "sms"),))
    for now, reason in ((C0 + DAY, "channel_cap"), (C0 + 3 * DAY - 1, "channel_cap"),
                        (C0 + 3 * DAY, None)):
        assert _open(policy, s, now)[1].get("sms") == reason


def test_web_cap_three_per_day(policy):
    s = _state(policy, contacts=((T0, "web"), (T0 + H, "web")))
    assert _open(policy, s, T0 + 2 * H, "cart_page") == (["web"], {})
    s.contacts.append(Contact(T0 + 90 * 60, "a_free", "web"))
    assert _open(policy, s, T0 + 2 * H, "cart_page") == ([], {"web": "channel_cap"})
    assert _open(policy, s, T0 + DAY, "cart_page") == (["web"], {})


def test_total_cap_three_outbound_per_day(policy):
    s = _state(policy, contacts=((C0, "email"), (C0 + H, "push"), (C0 + 2 * H, "sms")))
    # sms is also at its own cap: the channel cap is reported first
    assert _open(policy, s, C0 + 3 * H) == ([], {"email": "total_cap", "push": "total_cap",
                                                  "sms": "channel_cap"})
    # the first contact leaves the 1-day window at exactly 24 h
    assert _open(policy, s, C0 + DAY - 1)[1]["email"] == "total_cap"
    assert _open(policy, s, C0 + DAY) == (["email", "push"], {"sms": "channel_cap"})
    # inbound channels are not capped by the outbound total
    assert _open(policy, s, C0 + 3 * H, "both") == (["web", "app"], {})


def test_inbound_and_unknown_channels_do_not_count_against_the_total_cap(policy):
    inbound = tuple((C0 + i * 60, ch) for i, ch in enumerate(["web", "app", "app", "app"]))
    s = _state(policy, contacts=((C0, "email"), (C0 + H, "push"), *inbound,
                                 (C0 + 2 * H, "fax")))  # a channel the catalog no longer has
    assert _open(policy, s, C0 + 3 * H) == (["email", "push", "sms"], {})
    s.contacts.append(Contact(C0 + 2 * H, "a_action", "push"))
    assert _open(policy, s, C0 + 3 * H) == ([], {"email": "total_cap", "push": "total_cap",
                                                  "sms": "total_cap"})


@pytest.mark.parametrize(("utc_hour", "quiet"), [
    (19.99, False),  # 20:59 in Paris
    (20.0, True),  # 21:00
    (21.0, True),  # 22:00
    (23.5, True),  # 00:30
    (6.99, True),  # 07:59
    (7.0, False),  # 08:00
    (12.0, False),
])
def test_quiet_hours_in_the_customers_local_time(policy, utc_hour, quiet):
    s = _state(policy, tz=PARIS)
    closed = {"push": "quiet_hours", "sms": "quiet_hours"} if quiet else {}
    # email declares no quiet hours: open at any hour
    opened = ["email"] if quiet else ["email", "push", "sms"]
    assert _open(policy, s, T0 + utc_hour * H) == (opened, closed)


def test_quiet_hours_follow_the_offset_not_utc(policy):
    # 21:00 UTC is 22:00 in Paris (quiet) and 13:00 in Los Angeles (UTC-8: open)
    assert _open(policy, _state(policy, tz=PARIS), T0 + 21 * H)[1] == {
        "push": "quiet_hours", "sms": "quiet_hours"}
    assert _open(policy, _state(policy, tz=-8.0), T0 + 21 * H) == (["email", "push", "sms"], {})
    assert _open(policy, _state(policy, tz=0.0), T0 + 21 * H)[1] == {
        "push": "quiet_hours", "sms": "quiet_hours"}


def test_reason_precedence_consent_then_cap_then_total_then_quiet(policy):
    # 22:00 in Paris, email denied and at its cap, total cap full
    s = _state(policy, granted=PUSH | SMS, denied=EMAIL, tz=PARIS,
               contacts=((T0, "email"), (T0 + H, "email"), (T0 + 2 * H, "push")))
    assert _open(policy, s, T0 + 21 * H) == ([], {"email": "consent", "push": "total_cap",
                                                   "sms": "total_cap"})
    s.consent_denied = 0
    s.consent_granted |= EMAIL
    assert _open(policy, s, T0 + 21 * H)[1] == {"email": "channel_cap", "push": "total_cap",
                                                "sms": "total_cap"}
    s.contacts = s.contacts[:1]  # one email: neither cap reached, quiet hours remain
    assert _open(policy, s, T0 + 21 * H) == (["email"], {"push": "quiet_hours",
                                                         "sms": "quiet_hours"})


def _actions(policy: ContactPolicy, state: CustomerState, now: float
             ) -> tuple[list[int], list[str]]:
    ok, t_ok = policy.actions(state, now)
    assert ok.dtype.name == "uint8" and t_ok.dtype.name == "uint8"
    tids = ["a_action@web", "a_action@email", "a_channel@web", "a_channel@email",
            "a_supp@web", "a_free@web", "a_once@web"]
    return [int(v) for v in ok], [t for t, v in zip(tids, t_ok, strict=True) if v == 0]


def _deliver(state: CustomerState, tid: str, ts: float) -> None:
    action, channel = tid.split("@")
    state.last_sent[tid] = ts
    state.contacts.append(Contact(ts, action, channel))


def test_cooldown_per_action_and_per_channel_over_a_sequence_of_deliveries(policy):
    s = _state(policy)
    s.last_sent["gone@web"] = T0  # a treatment the catalog no longer has: ignored
    _deliver(s, "a_action@email", T0)
    _deliver(s, "a_channel@email", T0)
    _deliver(s, "a_free@web", T0)  # cooldown 0: never waits
    # (now, action mask, closed treatments), by hand from cooldowns 1 d (action), 2 h (channel)
    timeline = [
        (T0, [0, 1, 1, 1, 1], ["a_channel@email"]),
        (T0 + H, [0, 1, 1, 1, 1], ["a_channel@email"]),
        (T0 + 2 * H - 1, [0, 1, 1, 1, 1], ["a_channel@email"]),
        (T0 + 2 * H, [0, 1, 1, 1, 1], []),
    ]
    for now, ok, closed in timeline:
        assert _actions(policy, s, now) == (ok, closed), now - T0
    _deliver(s, "a_channel@web", T0 + 3 * H)  # per channel: only web waits now
    _deliver(s, "a_action@web", T0 + 3 * H)  # per action: restarts the wait on every channel
    timeline = [
        (T0 + 3 * H, [0, 1, 1, 1, 1], ["a_channel@web"]),
        (T0 + 5 * H - 1, [0, 1, 1, 1, 1], ["a_channel@web"]),
        (T0 + 5 * H, [0, 1, 1, 1, 1], []),
        (T0 + DAY, [0, 1, 1, 1, 1], []),  # the email at T0 has cooled, the web one at 3 h not
        (T0 + DAY + 3 * H - 1, [0, 1, 1, 1, 1], []),
        (T0 + DAY + 3 * H, [1, 1, 1, 1, 1], []),
    ]
    for now, ok, closed in timeline:
        assert _actions(policy, s, now) == (ok, closed), now - T0


def test_suppression_after_declared_ignores_and_it_lifts(policy):
    s = _state(policy)
    # a_supp declares 2: two ignores block it, 1.99 do not
    # (within 1e-9 of the threshold counts as reached: decayed counts are rounded floats)
    for n, blocked in ((2.0, True), (2.0 - 1e-9, True), (1.99, False), (3.0, True),
                       (0.0, False)):
        s.ignores = {"a_supp": (n, T0)}
        assert _actions(policy, s, T0)[0] == [1, 1, 0 if blocked else 1, 1, 1], n
    # 3 ignores decay with 14 days: below 2 after 14 d × ln(3/2) = 5.68 d
    s.ignores = {"a_supp": (3.0, T0)}
    for days, blocked in ((1.0, True), (5.6, True), (5.7, False), (30.0, False)):
        assert _actions(policy, s, T0 + days * DAY)[0][2] == (0 if blocked else 1), days
    # the exact lifting time: 3 × exp(-t / 14 d) = 2 at t = 14 d × ln(1.5)
    lift = 14 * DAY * math.log(1.5)
    assert _actions(policy, s, T0 + lift - 2)[0][2] == 0
    assert _actions(policy, s, T0 + lift + 2)[0][2] == 1
    # suppress_after_ignores: 1 blocks after one ignore
    s.ignores = {"a_once": (1.0, T0)}
    assert _actions(policy, s, T0)[0] == [1, 1, 1, 1, 0]
    s.ignores = {"a_once": (0.99, T0)}
    assert _actions(policy, s, T0)[0] == [1, 1, 1, 1, 1]
    # 2 ignores lift as soon as they start to decay
    s.ignores = {"a_supp": (2.0, T0)}
    assert _actions(policy, s, T0 + 60)[0][2] == 1
    # an ignore stamped later than now counts as it is (it does not grow)
    s.ignores = {"a_supp": (1.9, T0 + DAY)}
    assert _actions(policy, s, T0)[0][2] == 1
    # actions that declare no suppression are never blocked; unknown actions are skipped
    s.ignores = {"gone": (99.0, T0), "a_action": (50.0, T0), "a_free": (0.0, T0),
                 "a_channel": (2.0, T0)}
    assert _actions(policy, s, T0) == ([1, 1, 1, 1, 1], [])


def test_prune_keeps_exactly_what_a_cap_or_cooldown_still_needs(policy):
    # the longest window is sms's 3-day cap
    s = _state(policy, contacts=((T0, "sms"), (T0 + 1, "email"), (T0 + DAY, "push"),
                                 (T0 + 2 * DAY, "web")))
    s.last_sent = {"a_action@email": T0 + 2 * DAY + 2 * H,
                   "a_channel@web": T0 + 2 * DAY + 23 * H,
                   "a_channel@email": T0 + 2 * DAY + 22 * H, "a_free@web": T0 + 3 * DAY,
                   "gone@web": T0 + 3 * DAY}
    policy.prune(s, T0 + 3 * DAY)
    assert [(c.ts, c.channel) for c in s.contacts] == [
        (T0 + 1, "email"), (T0 + DAY, "push"), (T0 + 2 * DAY, "web")]
    # a_channel@email is exactly 2 h old: cooled; a_free has no cooldown; gone is gone
    assert s.last_sent == {"a_action@email": T0 + 2 * DAY + 2 * H,
                           "a_channel@web": T0 + 2 * DAY + 23 * H}
    policy.prune(s, T0 + 3 * DAY + 1)
    assert [c.channel for c in s.contacts] == ["push", "web"]
    policy.prune(s, T0 + 3 * DAY + H)  # a_channel@web: exactly 2 h
    assert s.last_sent == {"a_action@email": T0 + 2 * DAY + 2 * H}
    policy.prune(s, T0 + 3 * DAY + 2 * H - 1)
    assert s.last_sent == {"a_action@email": T0 + 2 * DAY + 2 * H}
    policy.prune(s, T0 + 3 * DAY + 2 * H)  # exactly 1 d
    assert s.last_sent == {}


def test_prune_keeps_the_newest_32_contacts(policy):
    s = _state(policy, contacts=tuple((T0 + i, "web") for i in range(40)))
    policy.prune(s, T0 + 60)
    assert [c.ts - T0 for c in s.contacts] == [float(i) for i in range(8, 40)]


def test_pruning_does_not_change_any_decision(policy):
    s = _state(policy, tz=PARIS, contacts=((T0, "email"), (T0 + H, "email"),
                                           (T0 + 2 * H, "sms")))
    s.last_sent = {"a_action@email": T0, "a_channel@web": T0 + 20 * H}
    for now in (T0 + 21 * H, T0 + DAY, T0 + DAY + 30 * 60, T0 + 3 * DAY):
        before = (_open(policy, s, now), _actions(policy, s, now))
        policy.prune(s, now)
        assert (_open(policy, s, now), _actions(policy, s, now)) == before


def test_prune_window_includes_a_total_cap_longer_than_every_channel_cap():
    cat = parse_catalog(CATALOG.replace("{count: 3, window: 1d}\n  quiet",
                                        "{count: 3, window: 5d}\n  quiet"), "t.yaml")
    p = ContactPolicy(cat)
    s = _state(p, contacts=((T0, "email"), (T0 + 2 * DAY, "email")))
    p.prune(s, T0 + 5 * DAY - 1)
    assert len(s.contacts) == 2
    # and it counts them: three outbound contacts within 5 days fill the total cap
    s.contacts.append(Contact(T0 + 4 * DAY, "a_action", "push"))
    assert _open(p, s, T0 + 5 * DAY - 1) == ([], {"email": "total_cap", "push": "total_cap",
                                                  "sms": "total_cap"})
    p.prune(s, T0 + 5 * DAY)
    assert [c.ts for c in s.contacts] == [T0 + 2 * DAY, T0 + 4 * DAY]
