"""HAProxy as a local stand-in for the ALB: cookie stickiness, redispatch, WebSockets through.

What it mirrors of the ALB in stacks/service.py: a load-balancer-generated cookie in insert
mode (`AWSALB`, valid 10 minutes like `stickiness_seconds`), a target health check that takes
a relay out of rotation, a long idle timeout for upgraded connections, and (`option
redispatch`) a request whose sticky relay is down or refuses the connection goes to another
relay instead of failing. The configuration is written into a temporary directory; the
process is started on a free loopback port and stopped by whoever started it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from harness.polling import wait_until
from harness.ports import free_port
from harness.stopping import terminate_then_kill

STICKY_COOKIE = "AWSALB"

CONFIG = """\
global
    maxconn 8000
    stats socket {admin_socket} mode 600 level admin
    log stderr format short local0 notice

defaults
    mode http
    log global
    # Redispatch on every retry: a sticky relay that refuses the connection (draining, dead)
    # is skipped at once rather than after `retries` turn-around delays.
    option redispatch 1
    retries 3
    timeout connect 1s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout queue 10s
    # Checks come often (a drained relay leaves rotation fast) but a relay busy for a moment,
    # in a join storm, is not taken out of it.
    timeout check 2s
    # An upgraded WebSocket is a tunnel; like the ALB's idle timeout (120 s), far above the
    # relay's 20 s pings.
    timeout tunnel 120s

frontend chat
    bind 127.0.0.1:{port}
    maxconn 8000
    default_backend relays

backend relays
    balance roundrobin
    # Load-balancer-generated cookie, inserted on the response, duration-limited like the ALB's.
    cookie {cookie} insert indirect nocache maxlife 10m
    option httpchk GET /readyz
    http-check expect status 200
    default-server check inter {check_ms}ms fastinter {check_ms}ms downinter {check_ms}ms \
fall 3 rise 2
{servers}
"""


class HAProxy:
    """``haproxy -db`` in front of the given relay ports, named r1, r2, ... in order."""

    def __init__(
        self, relay_ports: list[int], check_ms: int = 250, standby: frozenset[str] = frozenset()
    ) -> None:
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not Path(binary).exists():
            raise RuntimeError("haproxy not found; `make test` installs it (apt haproxy)")
        self.binary = binary
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="chat-relay-haproxy-"))
        self.admin_socket = self.dir / "admin.sock"
        self.names = [f"r{i + 1}" for i in range(len(relay_ports))]
        # `standby` servers start in maintenance: slots for relays a deploy starts later.
        self.standby = standby
        servers = "\n".join(
            f"    server {name} 127.0.0.1:{port} cookie {name}" + (" disabled" * (name in standby))
            for name, port in zip(self.names, relay_ports, strict=True)
        )
        self.config = self.dir / "haproxy.cfg"
        self.config.write_text(
            CONFIG.format(
                admin_socket=self.admin_socket,
                port=self.port,
                cookie=STICKY_COOKIE,
                check_ms=check_ms,
                servers=servers,
            )
        )
        self.log = self.dir / "haproxy.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self, timeout: float = 15) -> HAProxy:
        check = subprocess.run(
            [self.binary, "-c", "-q", "-f", str(self.config)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if check.returncode != 0:
            raise RuntimeError(f"bad haproxy configuration:\n{check.stdout}{check.stderr}")
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [self.binary, "-db", "-f", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(
            lambda: (
                self._alive()
                and all(s == "UP" for n, s in self.server_states().items() if n not in self.standby)
            ),
            timeout,
            what=f"haproxy on port {self.port} with every relay UP",
        )
        return self

    def _alive(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"haproxy exited early:\n{self.output()}")
        return self.admin_socket.exists()

    def command(self, line: str) -> str:
        """One command on the admin socket (see HAProxy's management guide)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.admin_socket))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def _server_rows(self) -> dict[str, dict[str, str]]:
        """Relay name -> its `show stat` row (HAProxy's management guide names the fields)."""
        rows = {}
        lines = self.command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == "relays" and row.get("svname") in self.names:
                rows[row["svname"]] = row
        return rows

    def server_states(self) -> dict[str, str]:
        """Relay name -> UP / DOWN / MAINT / ... as the health checks see it."""
        return {name: row["status"].split(" ")[0] for name, row in self._server_rows().items()}

    def server_sessions(self, name: str) -> int:
        """Connections (WebSockets included) the balancer holds open to relay `name`."""
        return int(self._server_rows()[name]["scur"] or 0)

    def stop_routing(self, name: str) -> None:
        """Deregistration: no new connections to `name` (sticky ones too); open ones stay."""
        self.command(f"set server relays/{name} state maint")

    def start_routing(self, name: str) -> None:
        """Registration: `name` takes connections once its health checks pass."""
        self.command(f"set server relays/{name} state ready")

    def cut(self, name: str) -> None:
        """The end of the deregistration delay: close every connection still open to `name`."""
        self.command(f"shutdown sessions server relays/{name}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        terminate_then_kill(self.process, grace=10)
        self.process = None

    def __enter__(self) -> HAProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
