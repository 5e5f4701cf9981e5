"""A slowly drowning model server, for scripts/bench-adaptive: an HTTP proxy in front of
the real ML server that holds every POST for `base + per_request × (POSTs in flight)`
before forwarding it, so each request waits longer the more there are at once, as a
server past its capacity does. Its throughput is therefore bounded (about batch size /
per_request alerts per second) whatever the concurrency, and its latency grows with it.
GETs (health, readiness) pass straight through.

usage: drowning_proxy.py --upstream URL --port PORT [--base-ms MS] [--per-request-ms MS]
                         [--stats FILE]
Writes one line per second to FILE (if given): unix time, POSTs in flight at most in that
second, POSTs completed in it, and the longest time the ML server itself took to answer one
of them (ms, the proxy's own delay not included).
"""
import argparse
import http.client
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--upstream", required=True)
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--base-ms", type=float, default=5.0)
parser.add_argument("--per-request-ms", type=float, default=25.0)
parser.add_argument("--stats")
args = parser.parse_args()
upstream = urllib.parse.urlsplit(args.upstream)

lock = threading.Lock()
in_flight = 0
peak = 0
completed = 0
slowest_upstream = 0.0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def forward(self, body):
        """Forwards the request; returns how long the ML server took to answer it (s)."""
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
        try:
            headers = {"content-type": self.headers.get("content-type", "application/json")}
            started = time.monotonic()
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            answered = time.monotonic() - started
            self.send_response(response.status)
            self.send_header("content-type", response.getheader("content-type", "application/json"))
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return answered
        finally:
            connection.close()

    def do_GET(self):
        self.forward(None)

    def do_POST(self):
        global in_flight, peak, completed, slowest_upstream
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
            delay = (args.base_ms + args.per_request_ms * in_flight) / 1000
        upstream_time = 0.0
        try:
            time.sleep(delay)
            upstream_time = self.forward(body)
        finally:
            with lock:
                in_flight -= 1
                completed += 1
                slowest_upstream = max(slowest_upstream, upstream_time)


def report():
    global peak, completed, slowest_upstream
    with open(args.stats, "a", buffering=1) as out:
        while True:
            time.sleep(1 - time.time() % 1)
            with lock:
                line = "%d %d %d %.0f\n" % (int(time.time()), peak, completed, slowest_upstream * 1000)
                peak, completed, slowest_upstream = in_flight, 0, 0.0
            out.write(line)


if args.stats:
    threading.Thread(target=report, daemon=True).start()
server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
server.daemon_threads = True
server.serve_forever()
