"""chat-relay: a multi-server WebSocket chat relay (protocol v1)."""
