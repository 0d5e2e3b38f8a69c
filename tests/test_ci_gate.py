"""The CI gate (`tests.ci_gate`), run on a throwaway suite with pytest's `pytester`: under
CI=true a skipped Kafka / Prometheus / browser / collector test fails; other skips, xfails
and passing tests are untouched; outside CI nothing changes."""

from __future__ import annotations

import pytest

from tests.ci_gate import ci_enforced

pytest_plugins = ["pytester"]

SUITE = '''
import pytest

@pytest.mark.kafka
@pytest.mark.skipif(True, reason="JOURNEY_TEST_BROKERS not set")
def test_kafka_skipif():
    pass

@pytest.mark.browser
def test_browser_skip_in_body():
    pytest.skip("no browser")

@pytest.mark.collector
def test_collector_runs():
    pass

@pytest.mark.kafka
@pytest.mark.xfail(reason="known bug", strict=True)
def test_kafka_xfail():
    assert False

@pytest.mark.skipif(True, reason="not on this platform")
def test_plain_skip():
    pass
'''

PROMETHEUS = '''
import pytest
pytestmark = pytest.mark.skipif(True, reason="JOURNEY_TEST_PROMETHEUS_BIN not set")

def test_scrape():
    pass
'''

WHOLE_MODULE = '''
import pytest
pytest.importorskip("no_such_http_server_module")

def test_never_collected():
    pass
'''


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest("from tests.ci_gate import *  # noqa: F403\n")
    pytester.makepyfile(test_suite=SUITE, test_prometheus=PROMETHEUS)
    return pytester


@pytest.mark.parametrize(("value", "enforced"), [
    ("true", True), ("1", True), (" TRUE ", True), ("yes", True),
    (None, False), ("", False), ("false", False), ("0", False), ("no", False),
])
def test_which_ci_values_enforce(monkeypatch, value, enforced):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert ci_enforced() is enforced


def test_under_ci_skipped_real_part_tests_fail(suite, monkeypatch):
    monkeypatch.setenv("CI", "true")
    result = suite.runpytest("-p", "no:cacheprovider", "-rA")
    # a skip at setup (skipif) becomes an error, a skip in the body a failure
    result.assert_outcomes(passed=1, skipped=1, xfailed=1, errors=2, failed=1)
    result.stdout.fnmatch_lines([
        "*CI=true: test_suite.py::test_kafka_skipif needs kafka (needs the local Kafka broker*"
        "but was skipped: JOURNEY_TEST_BROKERS not set*",
        "*CI=true: test_suite.py::test_browser_skip_in_body needs browser*no browser*",
        "*CI=true: test_prometheus.py::test_scrape needs prometheus*"
        "JOURNEY_TEST_PROMETHEUS_BIN not set*",
    ])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_outside_ci_those_tests_skip(suite, monkeypatch):
    monkeypatch.setenv("CI", "false")
    result = suite.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=4, xfailed=1)
    assert result.ret == pytest.ExitCode.OK


def test_a_module_of_real_part_tests_skipped_whole_fails_under_ci(pytester, monkeypatch):
    pytester.makeconftest("from tests.ci_gate import *  # noqa: F403\n")
    pytester.makepyfile(test_collector=WHOLE_MODULE, test_other=WHOLE_MODULE)
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1, errors=1)  # test_other.py is no real-part module
    result.stdout.fnmatch_lines(["*CI=true: module test_collector.py (talks to the HTTP "
                                 "collector over TCP) was skipped whole*"])
    monkeypatch.delenv("CI")
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(skipped=2)
