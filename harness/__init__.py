"""What tests and benchmarks run against: real processes and stand-ins on loopback.

redis-server (`redis_server`), a Redis Cluster (`cluster`, `tls`), relay processes and
fleets of them (`relay`), HAProxy as the ALB (`balancer`), a TCP proxy that deafens
connections (`proxy`), the one protocol-v1 client (`client`), polling with a deadline
(`polling`), the latency stamp (`latency`), loss counting (`losses`), and the loopback
AWS stand-ins (`http_standin`, `alb_identity`, `ecs`, `moto_server`, `aws_standin`).
Every process or server started here is stopped by whoever started it (each is a context
manager); every wait has a deadline; everything listens on 127.0.0.1 only. Nothing here
imports `tests` or `bench` (tests/test_import_rules.py).
"""
