"""The journey.decision/2 schema: a superset of v1's fields plus the content fields."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

V2 = Path(__file__).resolve().parents[2] / "engine" / "decision.schema.json"
V1_PROPERTIES = {"schema", "decision_id", "customer_id", "ts", "trigger", "stage", "placement",
                 "channel", "action_id", "kind", "message", "ranking", "probability", "policy",
                 "model_version", "latency_us", "reasons"}
"""Every field of journey.decision/1 (all were required)."""


@pytest.fixture(scope="module")
def schema() -> dict:
    s = json.loads(V2.read_text())
    jsonschema.Draft202012Validator.check_schema(s)
    return s


CONTENT = {
    "subject": "Maya, new in Women's Running Shoes",
    "items": [{"id": "wrs-tempo-flux-w", "name": "Tempo Flux Women's",
               "url": "https://shop.example/p/wrs-tempo-flux-w", "price": 130.0,
               "image": None},
              {"id": "sock-1", "name": "Socks", "url": None, "price": 14}],
    "coupon": "RUN15",
    "deep_link": "https://shop.example/cart?coupon=RUN15",
    "expected_value": 1.73,
    "distribution": [{"treatment": "viewed_models_discount@email", "probability": 0.98},
                     {"treatment": "cart_free_shipping@web", "probability": 0.02}],
}


@pytest.fixture
def v1_decision(engine, make_event) -> dict:
    engine.process(make_event("identify", traits={"firstName": "Ada",
                                                  "consent": {"email": True}}))
    engine.process(make_event("track", "Product Added", minute=1,
                              properties={"price": 40, "quantity": 1, "category": "shoes"}))
    [d] = engine.process(make_event("page", "Cart", minute=2,
                                    properties={"placement": "cart_page"}))
    return d.to_dict()


def upgrade(record: dict, **changes) -> dict:
    return {**record, **CONTENT, "schema": "journey.decision/2", **changes}


def test_a_real_v1_record_with_the_content_fields_is_a_valid_v2_record(schema, v1_decision):
    jsonschema.validate(upgrade(v1_decision), schema)
    jsonschema.validate(upgrade(v1_decision, subject=None, items=[], coupon=None,
                                deep_link=None), schema)
    no_distribution = upgrade(v1_decision)
    del no_distribution["distribution"]
    jsonschema.validate(no_distribution, schema)


def test_declared_worlds_names_are_accepted(schema, v1_decision):
    jsonschema.validate(upgrade(v1_decision, trigger="support_follow_up", stage="at_risk",
                                channel="call_centre", kind="retention"),
                        schema)


@pytest.mark.parametrize("missing", ["subject", "items", "coupon", "deep_link",
                                     "expected_value", "message", "probability"])
def test_every_required_field_is_required(schema, v1_decision, missing):
    record = upgrade(v1_decision)
    del record[missing]
    with pytest.raises(jsonschema.ValidationError, match=repr(missing)):
        jsonschema.validate(record, schema)


@pytest.mark.parametrize("changes", [
    {"schema": "journey.decision/1"},
    {"items": [{"id": "x", "name": "X", "price": 1}]},
    {"items": [{"id": "x", "name": "X", "url": None, "price": -1}]},
    {"items": [{"id": "x", "name": "X", "url": None, "price": 1, "discount": 0.1}]},
    {"distribution": [{"treatment": "no-channel", "probability": 0.5}]},
    {"distribution": [{"treatment": "a@email", "probability": 1.5}]},
    {"channel": "Email Blast"},
    {"expected_value": "high"},
    {"subject": 3},
    {"policy": "vw_cb"},  # a peer's choices are recorded as the learned policy's
])
def test_invalid_content_is_rejected(schema, v1_decision, changes):
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(upgrade(v1_decision, **changes), schema)


def test_v2_keeps_every_v1_field(schema):
    assert set(schema["properties"]) >= V1_PROPERTIES
    assert set(schema["required"]) >= V1_PROPERTIES
    assert schema["additionalProperties"] is False
