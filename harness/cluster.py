"""A throwaway Redis Cluster on loopback: N primaries (and replicas), built with
``redis-server --cluster-enabled yes`` and ``redis-cli --cluster create``; optionally
TLS-only with a password, as ElastiCache with in-transit encryption and an AUTH token."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from harness.polling import wait_until
from harness.ports import free_cluster_port
from harness.redis_server import RedisServer
from harness.tls import Certificates, make_certificates


def command(client: redis.Redis, *args: object) -> Any:
    """`client.execute_command(*args)`, which redis-py leaves untyped."""
    execute: Callable[..., Any] = client.execute_command
    return execute(*args)


class ClusterNode(RedisServer):
    def __init__(
        self, directory: str, tls: Certificates | None = None, password: str | None = None
    ) -> None:
        super().__init__(port=free_cluster_port())
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = directory
        self.tls = tls
        self.password = password

    def extra_args(self) -> list[str]:
        args = [
            "--cluster-enabled", "yes",
            "--cluster-config-file", f"nodes-{self.port}.conf",
            "--cluster-node-timeout", "2000",
            "--cluster-require-full-coverage", "no",
        ]  # fmt: skip
        if self.tls is not None:  # TLS only: the plain port is off, the bus is TLS too
            args += [
                "--port", "0", "--tls-port", str(self.port), "--tls-cluster", "yes",
                "--tls-replication", "yes", "--tls-auth-clients", "no",
                "--tls-cert-file", str(self.tls.cert), "--tls-key-file", str(self.tls.key),
                "--tls-ca-cert-file", str(self.tls.ca),
            ]  # fmt: skip
        if self.password is not None:
            args += ["--requirepass", self.password, "--masterauth", self.password]
        return args

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, **self.client_options())

    def client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"decode_responses": True, "password": self.password}
        if self.tls is not None:
            options |= {"ssl": True, "ssl_ca_certs": str(self.tls.ca)}
        return options


class LocalCluster:
    def __init__(
        self,
        primaries: int = 3,
        replicas: int = 0,
        *,
        tls: bool = False,
        password: str | None = None,
    ) -> None:
        self.dir = tempfile.mkdtemp(prefix="chat-relay-cluster-")
        self.tls = make_certificates(Path(self.dir)) if tls else None
        self.password = password
        self.nodes = [
            ClusterNode(self.dir, self.tls, password) for _ in range(primaries * (1 + replicas))
        ]
        self.replicas = replicas

    @property
    def url(self) -> str:
        """What a relay's REDIS_URL would be (the password goes in REDIS_AUTH_TOKEN)."""
        if self.tls is None:
            return f"redis://127.0.0.1:{self.nodes[0].port}/0"
        return f"rediss://127.0.0.1:{self.nodes[0].port}/0?ssl_ca_certs={self.tls.ca}"

    def start(self) -> LocalCluster:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        security = ["--tls", "--cacert", str(self.tls.ca)] if self.tls else []
        if self.password is not None:
            security += ["-a", self.password, "--no-auth-warning"]
        subprocess.run(
            ["redis-cli", *security, "--cluster", "create", *addresses,
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        wait_until(self.healthy, 30, interval=0.1, what="cluster_state:ok on every node")
        if self.replicas:
            # A replica that never finished its first sync cannot take over a primary.
            wait_until(self.replicas_in_sync, 30, interval=0.1, what="every replica in sync")
        return self

    def replicas_in_sync(self) -> bool:
        in_sync = 0
        for node in self.nodes:
            client = node.client()
            info = client.info("replication")
            client.close()
            in_sync += info.get("role") == "slave" and info.get("master_link_status") == "up"
        return in_sync == len(self.nodes) - len(self.nodes) // (1 + self.replicas)

    def healthy(self) -> bool:
        for node in self.nodes:
            if node.process is None or node.process.poll() is not None:
                continue
            try:
                client = node.client()
                info = client.cluster("info")
                client.close()
            except redis.RedisError:
                return False
            if info.get("cluster_state") != "ok":
                return False
        return True

    def client(self) -> redis.RedisCluster:
        """A cluster client through any node still running (the first may be killed)."""
        alive = [n for n in self.nodes if n.process is not None and n.process.poll() is None]
        node: Callable[..., redis.cluster.ClusterNode] = redis.cluster.ClusterNode  # untyped
        startup = [node("127.0.0.1", n.port) for n in alive]
        return redis.RedisCluster(startup_nodes=startup, **self.nodes[0].client_options())

    def flush(self) -> None:
        for node in self.primaries():
            client = node.client()
            client.flushall()
            client.close()

    def primaries(self) -> list[ClusterNode]:
        result = []
        for node in self.nodes:
            if node.process is None or node.process.poll() is not None:
                continue
            client = node.client()
            role = client.role()[0]
            client.close()
            if role == "master":
                result.append(node)
        return result

    def node_for(self, key: str) -> ClusterNode:
        client = self.client()
        node_of: Callable[[str], redis.cluster.ClusterNode] = client.get_node_from_key  # untyped
        owner = node_of(key)
        client.close()
        return next(n for n in self.nodes if n.port == owner.port)

    def move_slot_of(self, key: str, target: ClusterNode) -> None:
        """Migrate the slot holding `key` to `target`, keys and all, as resharding does:
        IMPORTING/MIGRATING, MIGRATE in batches, then SETSLOT NODE on every primary."""
        source = self.node_for(key)
        src, dst = source.client(), target.client()
        try:
            slot = src.cluster("keyslot", key)
            source_id, target_id = src.cluster("myid"), dst.cluster("myid")
            command(dst, "CLUSTER SETSLOT", slot, "IMPORTING", source_id)
            command(src, "CLUSTER SETSLOT", slot, "MIGRATING", target_id)
            auth = ["AUTH", self.password] if self.password else []
            while keys := command(src, "CLUSTER GETKEYSINSLOT", slot, 100):
                command(src, "MIGRATE", "127.0.0.1", target.port, "", 0, 5000, *auth, "KEYS", *keys)
            for node in self.primaries():
                client = node.client()
                command(client, "CLUSTER SETSLOT", slot, "NODE", target_id)
                client.close()
        finally:
            src.close()
            dst.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
