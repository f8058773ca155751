"""The cross-account (group) stage, pure: campaigns linked by weak evidence.

Each account publishes a small `MemberSummary` to every link key it carries (a payment
instrument, a hosting ASN with its client, a proxy range with its client, a system prompt, a
start wave, a registration burst, a template band of its prompts' simhash). A `GroupState` per
key merges the summaries; `verdicts` publishes the group's risk back to its members.

Two rules keep weak links from accusing honest customers:
- rarity: a key carried by many benign-looking accounts (a big cloud ASN with a common SDK, the
  first minutes of the stream) weighs little: weight 1 / (1 + benign / (RARITY_SCALE +
  extraction-like members)), so 300 honest users of a cloud drown 50 harvesters, while a few
  ordinary-looking members of a campaign do not hide it;
- behaviour: a group alerts only when its merged behaviour is extraction-like (the events-
  weighted extraction of its members, and several extraction-like members).
A member that looks ordinary on its own carries a share of each group's risk (linked, not
proven); links of different kinds to extraction-like groups are independent coincidences for an
honest account, so that evidence multiplies across kinds (`_joint`).
No I/O, event time only. Bounded: a group keeps its MAX_MEMBERS most recent members; the total
number it has seen is a HyperLogLog estimate.
"""

from __future__ import annotations

import hashlib

import msgspec
from distillguard.models import sketches
from distillguard.models.features import account_features, extraction_level
from distillguard.models.group_messages import GroupVerdict, MemberSummary
from distillguard.models.profile import AccountProfile
from distillguard.models.substreams import key_hash

MAX_MEMBERS = 64
KEEP = 4                 # group verdicts an account holds (the strongest)
RARITY_SCALE = 3.0       # benign-looking members that halve a key nobody else extracts on
EXTRACTIVE = 0.5         # a member at or above this extraction is extraction-like...
BENIGN = 0.15            # ...below this (with enough events to judge) benign-looking
JUDGE_EVENTS = 20        # events before a member's behaviour counts either way
REPUBLISH_POINTS = 5.0   # publish again when the group's risk moved this much
WAVE_S = 600.0           # start waves: first requests within ~10 minutes (two offset grids)
UNSEEN_START_S = 3600.0  # accounts first seen this soon after the stream began: start unknown
NEW_ACCOUNT_S = 30 * 86400.0  # ...or created longer before their first request: resuming
BURST_S = 1800.0         # registration bursts: accounts created within ~30 minutes
LSH_BANDS = 4            # simhash template bands of 16 bits each
# How much a key of each kind can say on its own (a shared card is near-proof; a shared start
# minute is a coincidence unless the group behaves alike).
KIND_WEIGHT = {"pay": 1.0, "reg": 0.9, "sys": 0.8, "lsh": 0.8, "net": 0.85, "asn": 0.6,
               "wave": 0.6}
STRONG_KINDS = ("pay", "net")  # one payment instrument, one proxy range with the same client
# The share of a group's verdict a benign-looking member carries (linked, not proven): a
# payment instrument is one payer, so its benign-looking accounts are the payer's too (a
# judge-harvesting or half-chat member of a card-sharing hydra); strangers share a proxy range
# and client more often, a public template, system prompt, network, wave or burst still more.
MEMBER_FLOOR = {"pay": 0.8, "net": 0.4}
WEAK_FLOOR = 0.25
# Odds that an account belongs to a campaign before any link is seen. A member's share from one
# kind of link is read as the chance it belongs given that link; links of different kinds are
# independent coincidences for an honest account, so their likelihood ratios multiply (an
# honest account shares a registration burst with a campaign by chance, rarely also its start
# wave and its hosting network and client). Only links to groups that are extraction-like on
# their own count (group risk >= LINKED_GROUP_RISK before the member's share), and kinds that
# nest count once: a proxy range with its client lies inside a hosting network with it.
PRIOR_ODDS = 0.05
LINKED_GROUP_RISK = 30.0
LINK_FAMILY = {"net": "asn"}
KIND_WORDS = {"pay": "a payment instrument", "reg": "a registration burst",
              "sys": "a system prompt", "lsh": "a prompt template", "net": "a proxy range and client",
              "asn": "a hosting network and client", "wave": "a start wave"}


class GroupState(msgspec.Struct, array_like=True):
    """Merged evidence of one link key; bounded whatever the number of members."""

    ts: float = 0.0  # event time of the newest member summary (a dormant group expires)
    members: dict[str, MemberSummary] = msgspec.field(default_factory=dict)
    seen: bytearray = msgspec.field(default_factory=sketches.hll_new)  # all members ever
    published_risk: float = 0.0
    pending: list[str] = msgspec.field(default_factory=list)  # joined since the last publish


def group_of(link_key: str) -> str:
    """A short stable name of a link key: its kind and 48 bits of hash (no raw value)."""
    kind, _, value = link_key.partition(":")
    return f"{kind}:{_h(value)}"


def describe(v: GroupVerdict) -> str:
    """The plain-words reason of a verdict."""
    kind = v.group.split(":", 1)[0]
    return (f"one of {v.size} accounts sharing {KIND_WORDS.get(kind, kind)}; together: "
            f"{v.merged:.0%} extraction-like over {v.events} requests, {v.extractive} members "
            f"extraction-like, {v.benign} ordinary")


def _h(value: str) -> str:
    return hashlib.blake2b(value.encode(), digest_size=6).hexdigest()


def _centroid(simhashes: list[int]) -> int | None:
    """Bitwise majority of the account's recent prompt simhashes: its template, if it has one."""
    if len(simhashes) < 4:
        return None
    half = len(simhashes) / 2
    return sum(1 << b for b in range(64) if sum((s >> b) & 1 for s in simhashes) > half)


def link_keys(profile: AccountProfile, stream_start: float | None = None) -> list[str]:
    """The keys that may link this account to others, as "kind:value" strings (<= 16).
    `stream_start`: when the stream began; an account first seen within UNSEEN_START_S of it
    was already active, so its start (a wave) is unknown."""
    p = profile
    keys = [f"pay:{p.payment_fingerprint}"] if p.payment_fingerprint else []
    keys += [f"net:{_h(c)}" for c in p.network_clients[:2]]
    keys += [f"asn:{_h(c)}" for c in p.asn_clients[:2]]
    keys += [f"sys:{k:08x}" for k in p.substreams.top(1, 2)]
    # A start wave is new accounts starting together: an account first seen within the
    # stream's first hour was already active, and one created long before it was first seen
    # is resuming, not starting (a benchmark run by an old account in a campaign's minute).
    if p.events and (stream_start is None or p.first_ts - stream_start >= UNSEEN_START_S) and (
            p.created_ts is None or p.first_ts - p.created_ts <= NEW_ACCOUNT_S):
        keys += [f"wave:{g}:{int((p.first_ts + g * WAVE_S / 2) // WAVE_S)}" for g in (0, 1)]
    if p.created_ts is not None:
        keys += [f"reg:{g}:{int((p.created_ts + g * BURST_S / 2) // BURST_S)}" for g in (0, 1)]
    # Only an account whose prompts do share a template has one: the centroid of diverse text
    # drifts to the language's average and would link every English-speaking customer.
    templated = p.templated / p.with_prompt_hash if p.with_prompt_hash else 0.0
    centroid = _centroid(p.recent_simhashes) if templated >= 0.5 else None
    if centroid is not None:
        width = 64 // LSH_BANDS
        keys += [f"lsh:{b}:{(centroid >> (b * width)) & ((1 << width) - 1):x}"
                 for b in range(LSH_BANDS)]
    return keys[:16]


def member_summary(profile: AccountProfile, own_risk: float,
                   extraction: float | None = None) -> MemberSummary:
    """`extraction` defaults to `features.extraction_level` of the profile."""
    if extraction is None:
        extraction = extraction_level(profile, account_features(profile))
    return MemberSummary(profile.account_id, profile.last_ts, profile.events, own_risk,
                         round(extraction, 3), profile.first_ts, profile.created_ts)


def fold(state: GroupState | None, link_key: str, summary: MemberSummary) -> GroupState:
    """Merge one member's latest summary into the group (idempotent per (account, summary))."""
    state = state or GroupState()
    if summary.account_id not in state.members:
        state.pending.append(summary.account_id)
        del state.pending[:-MAX_MEMBERS]
    state.members[summary.account_id] = summary
    state.ts = max(state.ts, summary.ts)
    sketches.hll_add(state.seen, key_hash(summary.account_id) * 0x9E3779B97F4A7C15 % (1 << 64))
    if len(state.members) > MAX_MEMBERS:
        oldest = min(state.members.values(), key=lambda m: m.ts)
        del state.members[oldest.account_id]
    return state


def group_risk(state: GroupState, link_key: str) -> GroupVerdict:
    """The group behind `link_key`, judged: a verdict addressed to nobody yet (risk 0-100)."""
    members = state.members.values()
    size = max(len(members), round(sketches.hll_count(state.seen)))
    # One pass over the members (up to MAX_MEMBERS, after every summary a group receives); the
    # sums add in member order, as four generator sums did.
    events = n_extractive = n_benign = 0
    weighted = 0
    for m in members:
        events += m.events
        n_extractive += m.extraction >= EXTRACTIVE
        n_benign += m.extraction < BENIGN and m.events >= JUDGE_EVENTS
        weighted += m.events * m.extraction
    if len(members) < 2:
        return GroupVerdict("", group_of(link_key), 0.0, size, 0.0, events, 0, 0, 0.0)
    scale = size / len(members)
    extractive = n_extractive * scale
    benign = n_benign * scale
    merged = weighted / max(events, 1)
    rarity = 1.0 / (1.0 + benign / (RARITY_SCALE + extractive))
    kind = link_key.split(":", 1)[0]
    strength = (_ramp(merged, 0.25, 0.6) * _ramp(extractive, 1, 4) * rarity
                * KIND_WEIGHT.get(kind, 0.5))
    return GroupVerdict("", group_of(link_key), round(100.0 * strength, 1), size,
                        round(merged, 3), events, round(extractive), round(benign), 0.0)


def verdicts(state: GroupState, link_key: str) -> list[GroupVerdict]:
    """The verdict for each (bounded, most recent) member when the group's risk changed enough
    to matter, and for members that joined since; empty when nothing changed."""
    judged = group_risk(state, link_key)
    risk = judged.risk
    changed = abs(risk - state.published_risk) >= REPUBLISH_POINTS or (
        risk == 0 and state.published_risk > 0)
    targets = list(state.members) if changed else [a for a in state.pending if risk > 0]
    kind = link_key.split(":", 1)[0]
    state.pending.clear()
    if changed:
        state.published_risk = risk
    out = []
    for account_id in targets:
        m = state.members.get(account_id)
        if m is None:
            continue
        floor = MEMBER_FLOOR.get(kind, WEAK_FLOOR)
        own = floor + (1 - floor) * _ramp(m.extraction, 0.05, 0.4)
        out.append(msgspec.structs.replace(judged, account_id=account_id,
                                           risk=round(risk * own, 1), ts=m.ts,
                                           share=round(own, 3)))
    return out


def combine(held: list[GroupVerdict]) -> tuple[float, str, GroupVerdict | None]:
    """One account's group evidence: the strongest verdict per kind of key, noisy-OR across
    kinds (independent weak links add up), or the groups' risk times the multiplied membership
    evidence of several kinds (`_joint`), whichever is higher. A verdict stored before members
    carried a share reads as share 1: the noisy-OR, as it was. (risk 0-100, reason text,
    strongest verdict)."""
    best: dict[str, GroupVerdict] = {}
    for v in held:
        kind = v.group.split(":", 1)[0]
        if v.risk > 0 and (kind not in best or v.risk > best[kind].risk):
            best[kind] = v
    if not best:
        return 0.0, "", None
    keep = 1.0
    for v in best.values():
        keep *= 1.0 - v.risk / 100.0
    risk = max(1.0 - keep, _joint(list(best.values())))
    strongest = max(best.values(), key=lambda v: v.risk)
    others = len(best) - 1
    text = describe(strongest) + (f" (and {others} other kind{'s' * (others > 1)} of link)"
                                  if others else "")
    return round(100.0 * risk, 1), text, strongest


def _joint(verdicts: list[GroupVerdict]) -> float:
    """0..1: the groups' risk (noisy-OR) times the chance the account belongs to them, with
    the membership evidence of each family of links multiplied as independent likelihood
    ratios; 0 with fewer than two families (`combine` then keeps the noisy-OR). Several weak
    kinds to extraction-like groups together approach a proven member."""
    shares: dict[str, float] = {}
    groups_keep = 1.0
    for v in verdicts:
        share = min(max(v.share, 1e-6), 1.0)
        group = min(1.0, v.risk / 100.0 / share)
        if 100.0 * group < LINKED_GROUP_RISK:
            continue
        groups_keep *= 1.0 - group
        kind = v.group.split(":", 1)[0]
        family = LINK_FAMILY.get(kind, kind)
        shares[family] = max(shares.get(family, 0.0), share)
    if len(shares) < 2:
        return 0.0
    if max(shares.values()) >= 1.0:
        return 1.0 - groups_keep
    odds = PRIOR_ODDS
    for share in shares.values():
        odds *= share / (1.0 - share) / PRIOR_ODDS
    return odds / (1.0 + odds) * (1.0 - groups_keep)


def hold(held: list[GroupVerdict], v: GroupVerdict) -> bool:
    """Keep `v` among an account's verdicts (its KEEP strongest, one per group; a zero risk
    removes the group). True if what the account holds changed."""
    stored = msgspec.structs.replace(v, account_id="")
    for i, old in enumerate(held):
        if old.group == v.group:
            if v.risk <= 0:
                del held[i]
                return True
            if old.risk == v.risk and old.size == v.size:
                held[i] = stored
                return False
            held[i] = stored
            return True
    if v.risk <= 0:
        return False
    held.append(stored)
    if len(held) > KEEP:
        held.remove(min(held, key=lambda h: h.risk))
        return stored in held
    return True


def _ramp(value: float, low: float, high: float) -> float:
    if value <= low:
        return 0.0
    return 1.0 if value >= high else (value - low) / (high - low)
