#!/usr/bin/env python3
"""The demo's stand-in for a business's own CRM, written the way the guide's
Flask and Express receivers are: check the bearer token, verify the Standard
Webhooks signature, store the lead, answer 200.  Python standard library only.

    crm_receiver.py --port N --token TOKEN --secret whsec_... --store FILE
                    [--flaky-failures K]

POST /api/nextphone-webhook   the CRM endpoint: 401 on a bad token or
                              signature, otherwise the lead is appended to
                              FILE (one JSON line) and 200 is returned
POST /api/flaky               answers 500 to its first K requests, then
                              behaves like the CRM endpoint
A lead whose webhook-id was stored already is acknowledged and not stored
twice: deliveries are at-least-once, and webhook-id is the idempotency key.
"""
import argparse
import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--flaky-failures", type=int, default=3)
    args = ap.parse_args()
    key = base64.b64decode(args.secret[len("whsec_"):])
    lock = threading.Lock()
    seen = set()
    flaky = {"left": args.flaky_failures}

    def signed(headers, body):
        msg_id = headers.get("webhook-id", "")
        ts = headers.get("webhook-timestamp", "")
        if not ts.isdigit() or abs(time.time() - int(ts)) > 300:
            return False
        mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256)
        expected = "v1," + base64.b64encode(mac.digest()).decode()
        return any(hmac.compare_digest(expected, s)
                   for s in headers.get("webhook-signature", "").split())

    class CRM(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self, status, obj):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/api/flaky":
                with lock:
                    if flaky["left"] > 0:
                        flaky["left"] -= 1
                        return self.reply(500, {"error": "Internal server error"})
            elif self.path != "/api/nextphone-webhook":
                return self.reply(404, {"error": "Not found"})
            if self.headers.get("Authorization") != f"Bearer {args.token}":
                return self.reply(401, {"error": "Unauthorized"})
            if not signed(self.headers, body):
                return self.reply(401, {"error": "Bad signature"})
            lead = json.loads(body)
            msg_id = self.headers["webhook-id"]
            with lock:
                if msg_id not in seen:
                    seen.add(msg_id)
                    with open(args.store, "a") as f:
                        f.write(json.dumps({"webhook_id": msg_id, "path": self.path,
                                            "lead": lead}) + "\n")
            self.reply(200, {"success": True})

        def log_message(self, fmt, *a):
            pass

    ThreadingHTTPServer(("127.0.0.1", args.port), CRM).serve_forever()


if __name__ == "__main__":
    main()
