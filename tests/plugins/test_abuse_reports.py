"""The abuse-reports detector: at or over the threshold scores."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from inmail_guard.plugins.abuse_reports import AbuseReportsDetector


@pytest.mark.parametrize(("reports", "fires"), [(0, False), (2, False), (3, True), (7, True)])
def test_threshold_boundary(run, make_facts, reports: int, fires: bool) -> None:
    signal = run(AbuseReportsDetector, fct=make_facts(abuse_reports=reports))
    assert (signal is not None) is fires
    if fires:
        assert signal.score == 15.0
        assert signal.data == {"reports": reports, "threshold": 3, "window": "30d"}
        assert signal.detail == (f"{reports} abuse reports against the sender in the last 30d"
                                 " (threshold 3)")


def test_settings(run, make_facts) -> None:
    config = AbuseReportsDetector.Config.model_validate({"window": "2w", "threshold": 1})
    assert config.window == timedelta(days=14)
    signal = run(AbuseReportsDetector, {"window": "2w", "threshold": 1, "score": 4},
                 fct=make_facts(abuse_reports=1))
    assert (signal.score, signal.data["window"]) == (4.0, "2w")
    with pytest.raises(ValidationError, match="expected a duration"):
        AbuseReportsDetector.Config.model_validate({"window": 30})
