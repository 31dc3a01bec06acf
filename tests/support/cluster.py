"""A throwaway Redis Cluster on loopback: N primaries (and replicas), built with
``redis-server --cluster-enabled yes`` and ``redis-cli --cluster create``."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import tempfile

import redis

from tests.support.processes import RedisServer, wait_until


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    for _ in range(200):
        port = random.randint(20000, 50000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


class ClusterNode(RedisServer):
    def __init__(self, directory: str) -> None:
        super().__init__(port=free_cluster_port())
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = directory

    def extra_args(self) -> list[str]:
        return [
            "--cluster-enabled", "yes",
            "--cluster-config-file", f"nodes-{self.port}.conf",
            "--cluster-node-timeout", "2000",
            "--cluster-require-full-coverage", "no",
        ]  # fmt: skip


class LocalCluster:
    def __init__(self, primaries: int = 3, replicas: int = 0) -> None:
        self.dir = tempfile.mkdtemp(prefix="chat-relay-cluster-")
        self.nodes = [ClusterNode(self.dir) for _ in range(primaries * (1 + replicas))]
        self.replicas = replicas

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def start(self) -> LocalCluster:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *addresses,
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        wait_until(self.healthy, 30, 0.1, "cluster_state:ok on every node")
        if self.replicas:
            # A replica that never finished its first sync cannot take over a primary.
            wait_until(self.replicas_in_sync, 30, 0.1, "every replica in sync")
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
        startup = [redis.cluster.ClusterNode("127.0.0.1", n.port) for n in alive]
        return redis.RedisCluster(startup_nodes=startup, decode_responses=True)

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
        owner = client.get_node_from_key(key)
        client.close()
        return next(n for n in self.nodes if n.port == owner.port)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
