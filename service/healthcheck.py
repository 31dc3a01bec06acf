"""Container health check: ``python -m service.healthcheck`` exits 0 when /healthz answers 200.

Slim images have no curl; this uses only the standard library and the PORT setting.
"""

from __future__ import annotations

import os
import sys
import urllib.request

from contract.protocol import HEALTH_PATH


def main() -> int:
    port = os.environ.get("PORT", "8000")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{HEALTH_PATH}", timeout=3) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"healthcheck failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
