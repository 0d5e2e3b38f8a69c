"""Rebuilding a process's shared decisioning state from resumed per-key snapshots.

The flow snapshots per-customer state and the learning state (bytewax recovery); what the
decision core aggregates across keys — the weight board and its version, popularity,
budgets, uplift counts, the context table and the event-time watermark — is re-derived
from those snapshots when each key's logic is rebuilt on resume, so a resumed run decides
exactly as an uninterrupted one would. Learned rows and tallies are keyed by stable ids
(`action@channel`), so a catalog changed between runs keeps what still matches.
"""

from __future__ import annotations

import logging

from engine.core import DecisionCore
from engine.learning import Learning
from features.errors import RecoveryError
from features.state import CustomerState, Slot

log = logging.getLogger(__name__)

__all__ = ["restore_customer", "restore_learning"]


def restore_learning(core: DecisionCore, learning: Learning) -> Learning:
    """Install resumed models into the core (rebound to its catalog) and add the tallies
    of treatments that still exist back into its aggregates."""
    cat = core.catalog
    learning.model.bind(cat, core.crosses)
    core.model, core.values = learning.model, learning.values
    core.copurchase = learning.copurchase
    core.repurchase = learning.repurchase
    index = {cat.treatment_id(t): t for t in range(cat.n_treatments)}
    for tid, tally in list(learning.tallies.items()):
        t = index.get(tid)
        if t is None:
            del learning.tallies[tid]
            continue
        action = int(cat.t_action[t])
        for policy, s in tally.by_policy.items():
            core.popularity[action] += s.rewards
            core.budget_left[action] -= s.decisions
            core.uplift.merge(policy, s)
    core.board.version = learning.version
    core.board.publish(core.model, core.values, count=False)
    return learning


def restore_customer(core: DecisionCore, state: CustomerState | None) -> float:
    """Re-derive a resumed customer's pending decisions from their stable treatment ids
    (dropping those whose treatment the catalog no longer has), count them against budgets,
    and return her last event time.

    Every decision is either finished (counted by its treatment's tally) or still pending
    in its customer's state, so budgets come back exact.
    """
    if state is None:
        return 0.0
    cat = core.catalog
    if state.row.shape[0] != cat.layout.n_slots:
        msg = (f"a resumed customer's state has {state.row.shape[0]} slots but the catalog's "
               f"world lays out {cat.layout.n_slots}: its categories, channels or traits "
               "changed; resume with the catalog the snapshots were taken with, or start a "
               "new --recovery-dir")
        raise RecoveryError(msg)
    index = {cat.treatment_id(t): t for t in range(cat.n_treatments)}
    kept = []
    for p in state.pending:
        t = index.get(p.tid)
        if t is None:
            continue
        p.treatment, p.action, p.channel = t, int(cat.t_action[t]), int(cat.t_channel[t])
        core.budget_left[p.action] -= 1
        kept.append(p)
    if len(kept) < len(state.pending):
        log.info("dropped %d pending decisions of treatments the catalog no longer has",
                 len(state.pending) - len(kept))
    state.pending = kept
    return float(state.row[Slot.LAST_SEEN])
