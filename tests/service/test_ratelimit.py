from service.ratelimit import TokenBucket


def test_burst_then_refuse() -> None:
    bucket = TokenBucket(rate=0.001, burst=3)
    assert [bucket.allow() for _ in range(5)] == [True, True, True, False, False]


def test_refills_at_rate() -> None:
    bucket = TokenBucket(rate=1000.0, burst=1)
    assert bucket.allow()
    bucket._stamp -= 0.01  # ten tokens' worth of time has passed
    assert bucket.allow()
