"""Small HTTP servers on 127.0.0.1 for the Swift tests (LocalHTTP.swift).

  python3 local_http.py proxy UPSTREAM_PORT   a fault-injection proxy in front of 127.0.0.1:UPSTREAM_PORT
  python3 local_http.py stub                  canned answers, set through the control API

Prints one JSON line {"port": N} when listening, and exits when stdin reaches EOF or the parent changes.

Control API (never forwarded, never counted): POST /__control/fault with a JSON fault, POST
/__control/route with a JSON route, GET /__control/log for every request seen as "METHOD /path?query".
A fault answers the next `count` requests whose "METHOD /path?query" contains `match`:
  {"action": "status", "status": 503, "code": "SlowDown", "retry_after": 1, "json": false}
  {"action": "reset"}               close the connection with a TCP reset, before forwarding
  {"action": "drop_after_forward"}  forward to the upstream, then close without answering
  {"action": "hold_after_forward"}  forward, then hold the connection unanswered until /__control/release
  {"action": "hold"}                hold the request, unforwarded, until /__control/release, then close
  {"action": "error_200", "code": "InternalError"}  answer 200 with an S3 <Error> body, as S3 may for
                                    CompleteMultipartUpload
GET /__control/held says how many requests are being held: {"held": N}.
A route with "file": PATH serves that file's bytes, honouring `Range` (206 and `Content-Range`), and logs
"served N bytes …". A route answers METHOD PATH: {"method": "GET", "path": "/creds", "status": 200, "body": "...",
"require_header": ["Authorization", "token"]} (401 when the header is missing or different), and
optionally "require_query": {"name": "value"} and "require_json": {"name": "value"}, parameters the query
or the JSON body must carry (400 when one is missing or different), as AWS checks a request's input.
In a route's body, {header:NAME} is replaced by the request's NAME header (a server that echoes what
it was sent) and {fill:N} by N letters `x` (a huge message). A route may misbehave as broken servers,
proxies and captive portals do, with "misbehave":
  {"kind": "dribble", "interval": 0.5}   honest headers, then the body one byte per interval
  {"kind": "raw"}                          the body's bytes instead of an HTTP answer (`HELLO\r\n`)
  {"kind": "headers", "count": 1, "size": 10000000}   `count` extra headers of `size` bytes each
  {"kind": "stream", "size": N, "chunked": true}      a body of N bytes, sent 1 MiB at a time, with or
                                           without Content-Length; logs "streamed BYTES" when it stops
  {"kind": "endless_pages"}                ListLayerVersions pages whose NextMarker is always new
"""
import http.client
import json
import os
import re
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}
lock = threading.Lock()
faults = []
routes = {}
log = []
held = 0
released = threading.Event()
upstream_port = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, OSError, ValueError):
            self.close_connection = True

    def finish(self):
        try:
            super().finish()
        except (ConnectionError, OSError, ValueError):
            pass

    def answer(self, status, body=b"", headers=()):
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        if not any(name.lower() == "content-length" for name, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/__control/"):
            return self.control(body)
        request_line = f"{self.command} {self.path}"
        with lock:
            log.append(request_line)
            fault = next((f for f in faults if f["count"] > 0 and f.get("match", "") in request_line), None)
            if fault:
                fault["count"] -= 1
        if fault and fault["action"] == "status":
            return self.answer_error(fault)
        if fault and fault["action"] == "error_200":
            payload = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{fault.get('code', 'InternalError')}</Code>"
                       "<Message>We encountered an internal error. Please try again.</Message></Error>").encode()
            return self.answer(200, payload, [("Content-Type", "application/xml")])
        if fault and fault["action"] == "hold":
            return self.hold()
        if fault and fault["action"] == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        if upstream_port is None:
            return self.stub(body)
        status, headers, payload = self.forward(body)
        if fault and fault["action"] == "hold_after_forward":
            return self.hold()
        if fault and fault["action"] == "drop_after_forward":
            self.connection.close()
            self.close_connection = True
            return
        self.answer(status, payload, headers)

    def hold(self):
        """Keeps the connection open and unanswered until the test releases it, then closes it."""
        global held
        with lock:
            held += 1
        released.wait(120)
        with lock:
            held -= 1
        self.connection.close()
        self.close_connection = True

    def answer_error(self, fault):
        code = fault.get("code", "InjectedFault")
        headers = []
        if fault.get("retry_after") is not None:
            headers.append(("Retry-After", str(fault["retry_after"])))
        if fault.get("json"):
            headers += [("X-Amzn-ErrorType", f"{code}:http://internal.amazon.com/"), ("Content-Type", "application/json")]
            payload = json.dumps({"message": "injected by the fault proxy"}).encode()
        else:
            headers.append(("Content-Type", "application/xml"))
            payload = f"<Error><Code>{code}</Code><Message>injected by the fault proxy</Message></Error>".encode()
        self.answer(fault["status"], payload, headers)

    def forward(self, body):
        upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=120)
        upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in HOP_BY_HOP:
                upstream.putheader(name, value)
        upstream.putheader("Content-Length", str(len(body)))
        upstream.endheaders(body)
        response = upstream.getresponse()
        payload = response.read()
        headers = [(n, v) for n, v in response.getheaders() if n.lower() not in HOP_BY_HOP]
        if self.command == "HEAD" and response.getheader("Content-Length"):
            headers.append(("Content-Length", response.getheader("Content-Length")))
        upstream.close()
        return response.status, headers, payload

    def stub(self, body):
        route = routes.get((self.command, self.path.split("?")[0]))
        if route is None:
            return self.answer(404, b"no such route")
        required = route.get("require_header")
        if required and self.headers.get(required[0]) != required[1]:
            return self.answer(401, b"missing or wrong " + required[0].encode())
        query = dict(urllib.parse.parse_qsl(self.path.split("?", 1)[1] if "?" in self.path else ""))
        try:
            sent = json.loads(body) if route.get("require_json") else {}
        except ValueError:
            sent = {}
        for given, wanted in ((query, route.get("require_query") or {}), (sent, route.get("require_json") or {})):
            wrong = sorted(name for name, value in wanted.items() if given.get(name) != value)
            if wrong:
                return self.answer(400, json.dumps({"message": "missing or wrong " + ", ".join(wrong)}).encode(),
                                   [("Content-Type", "application/json")])
        if "file" in route:
            return self.serve_file(route["file"])
        body = self.expand(route.get("body", "")).encode()
        status = route.get("status", 200)
        headers = [("Content-Type", "application/json")]
        misbehave = route.get("misbehave")
        if misbehave is None:
            return self.answer(status, body, headers)
        getattr(self, "misbehave_" + misbehave["kind"])(misbehave, status, body, headers)

    def serve_file(self, path):
        """A file as a static server (or S3) serves it: whole, or the `Range: bytes=A-B` / `bytes=-N` asked for (206)."""
        with open(path, "rb") as handle:
            data = handle.read()
        wanted = self.headers.get("Range")
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", wanted or "")
        if not match:
            with lock:
                log.append(f"served {len(data)} bytes")
            return self.answer(200, data, [("Content-Type", "application/zip")])
        first, last = match.groups()
        if first == "":
            start, end = max(0, len(data) - int(last)), len(data) - 1
        else:
            start, end = int(first), min(int(last or len(data) - 1), len(data) - 1)
        part = data[start:end + 1]
        with lock:
            log.append(f"served {len(part)} bytes of {len(data)} (range {start}-{end})")
        self.answer(206, part, [("Content-Type", "application/zip"), ("Content-Range", f"bytes {start}-{end}/{len(data)}")])

    def expand(self, template):
        template = re.sub(r"\{header:([^}]+)\}", lambda m: self.headers.get(m.group(1), ""), template)
        return re.sub(r"\{fill:(\d+)\}", lambda m: "x" * int(m.group(1)), template)

    def misbehave_dribble(self, misbehave, status, body, headers):
        self.send_response_only(status)
        for name, value in headers + [("Content-Length", str(len(body)))]:
            self.send_header(name, value)
        self.end_headers()
        for byte in body:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(misbehave.get("interval", 0.5))

    def misbehave_raw(self, misbehave, status, body, headers):
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def misbehave_headers(self, misbehave, status, body, headers):
        padding = [(f"X-Padding-{n}", "p" * misbehave["size"]) for n in range(misbehave["count"])]
        self.answer(status, body, headers + padding)

    def misbehave_stream(self, misbehave, status, body, headers):
        size, chunked = misbehave["size"], misbehave.get("chunked", True)
        self.send_response_only(status)
        for name, value in headers + [("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(size))]:
            self.send_header(name, value)
        self.end_headers()
        chunk, sent = b"x" * (1 << 20), 0
        try:
            while sent < size:
                part = chunk[: size - sent]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
                sent += len(part)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        finally:
            with lock:
                log.append(f"streamed {sent}")
            self.close_connection = True

    def misbehave_endless_pages(self, misbehave, status, body, headers):
        with lock:
            page = len(log)
        item = {"LayerVersionArn": f"arn:aws:lambda:us-east-1:123456789012:layer:endless:{page}", "Version": page}
        self.answer(200, json.dumps({"LayerVersions": [item], "NextMarker": f"page-{page + 1}"}).encode(), headers)

    def control(self, body):
        global faults
        with lock:
            if self.path == "/__control/fault":
                faults.append(json.loads(body))
            elif self.path == "/__control/route":
                route = json.loads(body)
                routes[(route["method"], route["path"])] = route
            elif self.path == "/__control/held":
                return self.answer(200, json.dumps({"held": held}).encode(), [("Content-Type", "application/json")])
            elif self.path == "/__control/release":
                released.set()
            elif self.path == "/__control/log":
                return self.answer(200, json.dumps(log).encode(), [("Content-Type", "application/json")])
            else:
                return self.answer(404, b"unknown control path")
        self.answer(204)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = handle_any


def exit_with_parent():
    parent = os.getppid()

    def watch_parent():
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()
    sys.stdin.read()
    os._exit(0)


def main():
    global upstream_port
    if sys.argv[1:2] == ["proxy"]:
        upstream_port = int(sys.argv[2])
    elif sys.argv[1:2] != ["stub"]:
        raise SystemExit(__doc__)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    exit_with_parent()


if __name__ == "__main__":
    main()
