"""`make bench`: the relay measured with `python -m loadtest` on this machine (see __main__)."""
