"""Load-test tool for chat-relay: drives protocol-v1 WebSocket clients and measures the relay.

Run `python -m loadtest --help`; docs/loadtest.md describes the flags and the report.
"""
