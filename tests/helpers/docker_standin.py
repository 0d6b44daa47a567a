"""A stand-in node for the docker backend's own tests (a helper: pytest does not collect it).

It takes the real node's command line, writes its --log and --db files, and serves over HTTP:
``GET /status`` (the node's status shape) and ``GET /via/<peer>/status``, which fetches the
peer's status through the address given by ``--peer`` (a Toxiproxy proxy), so a test can see
a node -> node link work and a cut link fail.
Run it with ``python -m tests.helpers.docker_standin``.
"""

from __future__ import annotations

import argparse
import json
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def _parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--peer", action="append", default=[])
    for flag in ("--db", "--users", "--mode", "--bug", "--e2e", "--log", "--cluster-secret-file"):
        parser.add_argument(flag)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    peers = dict(p.split("=", 1) for p in args.peer)
    Path(args.db).touch()
    with open(args.log, "a") as log:
        log.write(f"standin {args.name} mode={args.mode} peers={peers}\n")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            if parts == ["status"]:
                body = {"node": args.name, "role": "standin", "epoch": 0, "primary": None}
                self._reply(200, json.dumps({**body, "ready": True}).encode())
            elif len(parts) == 3 and parts[0] == "via" and parts[1] in peers:
                try:
                    url = f"http://{peers[parts[1]]}/status"
                    with urllib.request.urlopen(url, timeout=1.5) as response:
                        self._reply(200, response.read())
                except OSError as exc:
                    self._reply(504, str(exc).encode())
            else:
                self._reply(404, b"not found")

        def _reply(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    host, port = args.listen.rsplit(":", 1)
    ThreadingHTTPServer((host, int(port)), Handler).serve_forever()


if __name__ == "__main__":
    main()
