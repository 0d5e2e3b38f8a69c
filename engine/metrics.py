"""Prometheus metrics (prefix `journey_`, units in names, no customer ids in labels).

Every label set is closed and small (< ~10 series per metric).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "COLLECTOR_EVENTS",
    "COLLECTOR_REJECTED",
    "COLLECTOR_REQUESTS",
    "CONSUMER_LAG",
    "CUSTOMERS",
    "DEAD_LETTERS",
    "DEAD_LETTERS_DROPPED",
    "DEAD_LETTERS_REDACTED",
    "DECISIONS",
    "DECISIONS_BY_CHANNEL",
    "DECISION_LATENCY",
    "DEDUPE_IDS",
    "ERASURES",
    "EVENTS",
    "EXPIRED",
    "KAFKA_ERRORS",
    "LEARNER_UPDATES",
    "MODEL_VERSION",
    "OUTPUT_LINES_REDACTED",
    "RESOLVED",
    "REVENUE",
    "REWARDS",
    "REWARD_RATE",
    "SKIPPED",
    "STATE_BYTES",
    "STORE_SCRUBS",
    "TIMERS_FIRED",
    "UPLIFT",
    "channel_by",
    "collector_events_by",
    "collector_rejected_by",
    "collector_requests_by",
    "dead_letters_by",
    "decisions_by",
    "dedupe_ids_by",
    "events_by",
    "learner_updates_by",
    "resolved_by",
    "revenue_by",
    "reward_rate_by",
    "rewards_by",
    "timers_by",
]

EVENTS = Counter("journey_events_total", "Input records decoded, by call type", ["type"])
DEAD_LETTERS = Counter("journey_dead_letters_total", "Records dead-lettered, by reason",
                       ["reason"])
DEAD_LETTERS_DROPPED = Counter(
    "journey_collector_dead_letters_dropped_total",
    "Rejected events or requests not stored because their source spent its dead-letter budget")
DEAD_LETTERS_REDACTED = Counter(
    "journey_dead_letters_redacted_total",
    "Dead letters written without their payload and message: the record named an erased"
    " customer or device (also counted in journey_dead_letters_total)")
DECISIONS = Counter("journey_decisions_total", "Decisions emitted, by policy", ["policy"])
DECISIONS_BY_CHANNEL = Counter("journey_decisions_by_channel_total",
                               "Decisions emitted, by channel", ["channel"])
DECISION_LATENCY = Histogram(
    "journey_decision_latency_seconds", "Time to make one decision (features to record)",
    buckets=(25e-6, 50e-6, 100e-6, 200e-6, 400e-6, 800e-6, 1.6e-3, 3.2e-3, 10e-3, 50e-3))
TIMERS_FIRED = Counter("journey_timers_fired_total", "Event-time timers fired, by trigger",
                       ["trigger"])
LEARNER_UPDATES = Counter("journey_learner_updates_total", "Online learner updates, by model",
                          ["model"])
MODEL_VERSION = Gauge("journey_model_version", "Weight-board version (publishes so far)")
RESOLVED = Counter("journey_resolved_decisions_total",
                   "Decisions whose outcome is known, by policy", ["policy"])
REWARDS = Counter("journey_rewards_total", "Decisions responded to, by policy", ["policy"])
REVENUE = Counter("journey_attributed_revenue_total", "Revenue attributed to decisions",
                  ["policy"])
REWARD_RATE = Gauge("journey_reward_rate", "Reward rate of resolved decisions, by policy",
                    ["policy"])
UPLIFT = Gauge("journey_uplift_value_per_decision",
               "Net value per decision, learned policy minus control (personalization uplift)")
CUSTOMERS = Gauge("journey_state_customers", "Customers held in state (this process)")
COLLECTOR_REQUESTS = Counter("journey_collector_requests_total",
                             "Collector HTTP requests, by response status", ["status"])
COLLECTOR_EVENTS = Counter("journey_collector_events_total",
                           "Events the collector received, by outcome", ["outcome"])
COLLECTOR_REJECTED = Counter("journey_collector_rejected_total",
                             "Collector requests rejected, by reason", ["reason"])
CONSUMER_LAG = Gauge("journey_consumer_lag_messages",
                     "Messages behind the end of each input topic (this process)", ["topic"])
KAFKA_ERRORS = Counter("journey_kafka_errors_total",
                       "Kafka consumer errors without a record (retried by the client)",
                       ["code"])
SKIPPED = Counter("journey_skipped_events_total",
                  "Events not processed: a repeated messageId, or a customer who was forgotten",
                  ["reason"])
ERASURES = Counter("journey_erasures_total", "Customers (or devices) erased on request")
EXPIRED = Counter("journey_expired_keys_total",
                  "Keys dropped after --state-ttl (or tombstones after --tombstone-ttl) idle")
UNKNOWN_ITEMS = Counter("journey_unknown_items_total",
                        "Item ids named by events that the product catalog lacks")
NO_DECISION = Counter("journey_no_decision_total",
                      "Decision requests and timers that got no decision, by reason", ["reason"])
STATE_BYTES = Gauge("journey_state_bytes", "Estimated bytes of customer state (this process)")
OUTPUT_LINES_REDACTED = Counter(
    "journey_output_lines_redacted_total",
    "Lines of the decisions and dead-letter files rewritten after their customer was erased")
STORE_SCRUBS = Counter(
    "journey_store_scrubs_total",
    "Rewrites of the recovery store while the flow runs (after erasures), by result: ok or"
    " failed (the bytes stay until the next start; see the log)", ["result"])
DEDUPE_IDS = Gauge(
    "journey_dedupe_ids",
    "Message ids remembered to drop duplicates (this process), by store: keys (the last 32"
    " per customer or device, gone with the key) or collector (--collector-dedupe-ids at"
    " most, the oldest forgotten first)", ["store"])


class _Children:
    """Label children resolved once: `labels()` costs microseconds on the hot path."""

    def __init__(self, metric: Counter | Gauge) -> None:
        self._metric = metric
        self._cache: dict[str, Counter | Gauge] = {}

    def __call__(self, label: str) -> Counter | Gauge:
        child = self._cache.get(label)
        if child is None:
            child = self._cache[label] = self._metric.labels(label)
        return child


events_by = _Children(EVENTS)
decisions_by = _Children(DECISIONS)
channel_by = _Children(DECISIONS_BY_CHANNEL)
resolved_by = _Children(RESOLVED)
rewards_by = _Children(REWARDS)
revenue_by = _Children(REVENUE)
reward_rate_by = _Children(REWARD_RATE)
timers_by = _Children(TIMERS_FIRED)
dead_letters_by = _Children(DEAD_LETTERS)
collector_requests_by = _Children(COLLECTOR_REQUESTS)
collector_events_by = _Children(COLLECTOR_EVENTS)
collector_rejected_by = _Children(COLLECTOR_REJECTED)
learner_updates_by = _Children(LEARNER_UPDATES)
no_decision_by = _Children(NO_DECISION)
dedupe_ids_by = _Children(DEDUPE_IDS)
