"""The local mail server of `npm start`: a loopback SMTP sink (aiosmtpd) that keeps every message.

    dags/.venv/bin/python tools/local/smtp_sink.py --port PORT --dir STATE/mail

Accepts any sender and recipient on 127.0.0.1 only (no relay, no authentication: nothing leaves
the machine) and saves each message as it arrived, as ``<UTC time>-<n>.eml`` in ``--dir``,
written through a temporary name and renamed (a reader never sees half a message). Prints one
JSON line per saved message on stdout: ``{"event": "mail_saved", "path", "subject", "to",
"run_id", "month"}`` (the run report's ``X-Taxi-*`` headers), and ``{"event": "listening"}``
once it accepts connections.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import os
import signal
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

from aiosmtpd.controller import Controller


class SaveHandler:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        with self.lock:
            self.count += 1
            n = self.count
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        path = self.folder / f"{stamp}-{n:04d}.eml"
        tmp = self.folder / f".{path.name}.tmp"
        tmp.write_bytes(envelope.original_content or envelope.content)
        os.replace(tmp, path)
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        print(
            json.dumps(
                {
                    "event": "mail_saved",
                    "path": str(path),
                    "subject": str(msg.get("Subject", "")),
                    "to": list(envelope.rcpt_tos),
                    "run_id": msg.get("X-Taxi-Run-Id"),
                    "month": msg.get("X-Taxi-Month"),
                }
            ),
            flush=True,
        )
        return "250 Message accepted"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="smtp_sink.py")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    args = p.parse_args(argv)
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(SaveHandler(folder), hostname="127.0.0.1", port=args.port)
    try:
        controller.start()
    except OSError as exc:
        print(f"smtp_sink: cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"event": "listening", "port": args.port, "dir": str(folder)}), flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
