"""What the relay tells operators: counters (``counters``), the state snapshot the metrics
read (``snapshot``, ``readings``), Prometheus and CloudWatch EMF output (``metrics``,
``emf``) and structured logs (``logs``)."""
