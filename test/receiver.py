#!/usr/bin/env python3
"""The test receiver: an HTTP server on 127.0.0.1 that records every request
and answers as the path says.  Python 3 standard library only.

    receiver.py PORT [LOGFILE]

Every request (method, path, headers, body, arrival time) is kept in memory
and, with LOGFILE, appended to it as one JSON line.  Paths:

    /status/NNN        answer NNN
    /gone              answer 410 Gone
    /retry-after/S     answer 429 with "Retry-After: S"
    /unavailable/S     answer 503 with "Retry-After: S"
    /hang/MS           wait MS milliseconds, then answer 200
    /slow/MS/NNN       wait MS milliseconds, then answer NNN
    /reset             close the connection without answering (TCP reset)
    /switch/NAME       answer the status last set for NAME (200 at first),
                       after the delay last set for it (none at first)
    /odd-bytes         answer 200 with a header and a body holding bytes
                       that are not UTF-8, a header given twice, and a
                       name in capitals
    /big/N             answer 200 with a body of N bytes
    /endless/NNN       answer NNN with a body that never ends (chunks
                       written as fast as the client reads them, until
                       it closes the connection)
    anything else      answer 200

Control paths (not recorded):

    GET /_requests              every recorded request, as a JSON array
    GET /_count                 how many requests were recorded
    GET /_set/NAME/NNN          make /switch/NAME answer NNN from now on
    GET /_delay/NAME/MS         make /switch/NAME wait MS milliseconds first
    GET /_clear                 forget the recorded requests

"Down" is simply no receiver listening on the port.
"""

import json
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
requests = []
switches = {}
delays = {}
logfile = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def control(self):
        parts = self.path.split("/")
        if self.path == "/_requests":
            with lock:
                data = json.dumps(requests).encode()
            self.answer(200, data, {"Content-Type": "application/json"})
        elif self.path == "/_count":
            with lock:
                n = len(requests)
            self.answer(200, str(n).encode())
        elif self.path == "/_clear":
            with lock:
                requests.clear()
            self.answer(200)
        elif len(parts) == 4 and parts[1] == "_set":
            with lock:
                switches[parts[2]] = int(parts[3])
            self.answer(200)
        elif len(parts) == 4 and parts[1] == "_delay":
            with lock:
                delays[parts[2]] = int(parts[3])
            self.answer(200)
        else:
            self.answer(404)

    def handle_any(self):
        if self.path.startswith("/_"):
            return self.control()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        rec = {
            "t": time.time(),
            "method": self.command,
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
        }
        with lock:
            requests.append(rec)
            if logfile:
                logfile.write(json.dumps(rec) + "\n")
                logfile.flush()

        parts = self.path.split("/")
        kind = parts[1] if len(parts) > 1 else ""
        arg = parts[2] if len(parts) > 2 else ""
        if kind == "status":
            self.answer(int(arg), b"status " + arg.encode())
        elif kind == "gone":
            self.answer(410, b"gone")
        elif kind == "retry-after":
            self.answer(429, b"slow down", {"Retry-After": arg})
        elif kind == "unavailable":
            self.answer(503, b"unavailable", {"Retry-After": arg})
        elif kind == "hang":
            time.sleep(int(arg) / 1000.0)
            self.answer(200, b"late")
        elif kind == "slow":
            time.sleep(int(arg) / 1000.0)
            status = int(parts[3]) if len(parts) > 3 else 200
            self.answer(status, b"slow")
        elif kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        elif kind == "switch":
            with lock:
                status = switches.get(arg, 200)
                delay = delays.get(arg, 0)
            time.sleep(delay / 1000.0)
            self.answer(status, b"switch")
        elif kind == "odd-bytes":
            # (send_header writes str as latin-1: "\xe9" is the byte 0xE9)
            self.send_response(200)
            self.send_header("X-Odd", "caf\xe9 au lait")
            self.send_header("X-Twice", "first")
            self.send_header("X-Twice", "second")
            self.send_header("X-CAPITALS", "Kept")
            body = b"ok \xff\xfe rest"
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif kind == "big":
            self.answer(200, b"b" * int(arg))
        elif kind == "endless":
            self.send_response(int(arg))
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"e" * 65536
            try:
                while True:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                pass
            self.close_connection = True
        else:
            self.answer(200, b"ok")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024   # many connections open at once


def main():
    global logfile
    port = int(sys.argv[1])
    if len(sys.argv) > 2:
        logfile = open(sys.argv[2], "a")
    server = Server(("127.0.0.1", port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
