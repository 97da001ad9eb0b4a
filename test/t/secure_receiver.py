#!/usr/bin/env python3
"""A webhook receiver for the security tests (test/t/04x_*.pl).

Listens on 127.0.0.x, over plain HTTP or TLS, and appends one JSON line per
request to --log: method, path, headers, body, and for each --secret whether
the Standard Webhooks signature verifies -- computed here with Python's own
hmac module, independently of the extension's C code.

  secure_receiver.py --port N --log FILE [--bind ADDR] [--status CODE]
                     [--redirect URL] [--secret whsec_...]...
                     [--cert FILE --key FILE [--tls-max 1.1]]
"""
import argparse
import base64
import hashlib
import hmac
import http.server
import json
import ssl
import sys
import threading
import time


def verify(secret, headers, body):
    """Standard Webhooks verification: webhook-id, webhook-timestamp within
    five minutes, one matching v1 signature among the space-separated ones."""
    key = base64.b64decode(secret[len("whsec_"):])
    msg_id = headers.get("webhook-id", "")
    ts = headers.get("webhook-timestamp", "")
    if not msg_id or not ts.isdigit() or abs(time.time() - int(ts)) > 300:
        return False
    mac = hmac.new(key, msg_id.encode() + b"." + ts.encode() + b"." + body,
                   hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    return any(hmac.compare_digest(expected, s)
               for s in headers.get("webhook-signature", "").split(" "))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--log", required=True)
    ap.add_argument("--status", type=int, default=200)
    ap.add_argument("--redirect")
    ap.add_argument("--secret", action="append", default=[])
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--tls-max")
    args = ap.parse_args()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            entry = {
                "method": self.command,
                "path": self.path,
                "headers": headers,
                "raw_headers": [[k, v] for k, v in self.headers.items()],
                "body": body.decode("utf-8", "replace"),
                "verified": [verify(s, headers, body) for s in args.secret],
            }
            with lock, open(args.log, "a") as f:
                f.write(json.dumps(entry) + "\n")
            self.send_response(args.status)
            if args.redirect:
                self.send_header("Location", args.redirect)
            reply = b'{"success": true}'
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

        def log_message(self, fmt, *a):
            pass

    server = http.server.ThreadingHTTPServer((args.bind, args.port), Handler)
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        if args.tls_max:
            # allow the old protocol on this side, so that refusing it is
            # the client's doing
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            ctx.maximum_version = {"1.0": ssl.TLSVersion.TLSv1,
                                   "1.1": ssl.TLSVersion.TLSv1_1}[args.tls_max]
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
