"""bench.api_post: a short run against real relays gives every figure the report prints."""

from __future__ import annotations

from bench.api_post import QUICK, Plan, report, run


def test_a_quick_run_measures_both_paths_and_the_post_rate() -> None:
    plan = Plan(members=10, rounds=1, messages=5, pace=0.02, post_seconds=0.5)
    result = run(plan)
    fanout = result["fanout"]
    for kind in ("websocket", "api"):
        (only,) = fanout["rounds"][kind]
        assert only["delivered"] == f"{plan.messages * plan.members}/{plan.messages * plan.members}"
        assert fanout["median_p99_ms"][kind] > 0
    assert fanout["ratio_p99"] > 0
    for mode in ("redis", "memory"):
        assert result["posts"][mode]["posts_per_second"] > 0
        assert result["posts"][mode]["refused"] == 0
    text = report(result)
    assert "API / WebSocket p99" in text and "API posts/s, one relay (memory)" in text
    assert QUICK.members < Plan().members == 200
