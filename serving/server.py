"""The HTTP side of `rnnkit serve`: the standard library's threading server.

Why `http.server.ThreadingHTTPServer` rather than an ASGI stack: it adds
no dependency, it is enough for a local server of one model, and a thread
per connection is what server-side batching wants, since TensorFlow
releases the GIL while a gathered call runs. The standard library parses
HTTP; this module only routes and writes JSON.

Limits: the body of a request is capped (413 above it), and an idle or
trickling connection is closed after `IDLE_SECONDS`. On SIGTERM or Ctrl-C
the server stops accepting, lets the requests in flight finish, closes idle
connections and returns.
"""

import contextlib
import errno
import http.server
import json
import logging
import signal
import socket
import threading

import rnnkit
from rnnkit.serving.errors import RequestError
from rnnkit.templates.errors import UsageError

log = logging.getLogger("rnnkit")
IDLE_SECONDS = 30
GRACE_SECONDS = 30  # how long a stop waits for requests in flight


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as TF Serving
    server_version = f"rnnkit-serve/{rnnkit.__version__}"
    timeout = IDLE_SECONDS
    # The headers and the body go out in two writes; with Nagle's algorithm
    # the body would wait for the client's delayed ACK of the headers
    # (about 40 ms on Linux) on every request.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass  # no access log; failures are logged where they happen

    def do_GET(self):
        def handle():
            self._body(required=False)  # read, so that it is not the next request
            return self.server.app.get(self.path)

        self._answer(handle)

    def do_POST(self):
        self._answer(lambda: self.server.app.post(self.path, self._body()))

    def _not_allowed(self):
        def handle():
            self._body(required=False)
            return 405, {"error": f"{self.command} is not allowed"}

        self._answer(handle)

    do_PUT = do_DELETE = do_PATCH = _not_allowed

    def _body(self, required=True):
        length = self.headers.get("Content-Length")
        if length is None and not required:
            return b""
        if length is None:
            raise RequestError("a POST needs a Content-Length header", 411)
        if not length.isdigit():
            raise RequestError(f"bad Content-Length: {length[:20]!r}")
        if int(length) > self.server.max_body:
            self.close_connection = True  # its body is left unread
            raise RequestError(
                f"the request body has {int(length):,} bytes; this server takes "
                f"at most {self.server.max_body:,} (--max-body-mb)",
                413,
            )
        return self.rfile.read(int(length))

    def _answer(self, handle):
        with self.server.in_flight():
            try:
                status, body = handle()
            except RequestError as error:
                status, body = error.status, {"error": str(error)}
            except Exception as error:
                log.exception("error answering %s %s", self.command, self.path[:100])
                status, body = 500, {"error": f"internal error: {error}"}
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.server.stopping.is_set():
                self.close_connection = True
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)


class Server(http.server.ThreadingHTTPServer):
    """A `ServingApp` on `(host, port)`; port 0 takes a free one.

    Args:
        address: `(host, port)`.
        app: The `app.ServingApp` answering requests.
        max_body: The largest request body, in bytes.
    """

    # The listen backlog: socketserver's default of 5 resets the connections
    # of a burst of clients that arrive before the accept loop takes them.
    request_queue_size = 1024

    def __init__(self, address, app, max_body):
        self.app = app
        self.max_body = max_body
        self.connections = set()  # open sockets
        self.handlers = set()  # every handler thread not yet known to be over
        self._threads_lock = threading.Lock()
        self.stopping = threading.Event()
        self._busy = 0
        self._idle = threading.Condition()
        try:
            super().__init__(address, _Handler)
        except OSError as error:
            host, port = address
            if error.errno == errno.EADDRINUSE:
                raise UsageError(
                    f"{host}:{port} is in use; choose another --port (0 takes a "
                    "free one)"
                ) from None
            if isinstance(error, socket.gaierror) or error.errno == errno.EADDRNOTAVAIL:
                raise UsageError(
                    f"--host {host}: not an address of this machine"
                ) from None
            raise

    @property
    def url(self):
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def process_request(self, request, client_address):
        """Answers a new connection in a thread of its own, as
        `ThreadingMixIn` does, and records both before the thread starts,
        so that a stop sees every connection accepted. A thread is kept
        until it is over as a thread, not only until its connection closes
        (see `stop`)."""
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            daemon=True,
        )
        with self._threads_lock:
            self.connections.add(request)
            self.handlers = {t for t in self.handlers if t.is_alive()} | {thread}
        thread.start()

    def shutdown_request(self, request):
        self.connections.discard(request)
        super().shutdown_request(request)

    @contextlib.contextmanager
    def in_flight(self):
        with self._idle:
            self._busy += 1
        try:
            yield
        finally:
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def stop(self, grace=GRACE_SECONDS):
        """Stops accepting, waits up to `grace` seconds for the requests in
        flight, then closes the connections left (idle keep-alives)."""
        self.stopping.set()
        self.shutdown()
        with self._idle:
            self._idle.wait_for(lambda: self._busy == 0, timeout=grace)
        for connection in list(self.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        # Every handler thread is joined, not left to die with the
        # interpreter, including one whose connection has just closed: it
        # may still be in its teardown, which frees TensorFlow's per-thread
        # state, and a thread caught in TensorFlow's C++ by the interpreter's
        # exit aborts the process. CI saw that once (exit status -6 after a
        # stop mid-request) when only the threads of open connections were
        # joined.
        with self._threads_lock:
            handlers = list(self.handlers)
        for thread in handlers:
            thread.join(timeout=5)
        self.server_close()


def serve_until_stopped(server, on_ready):
    """Serves in a thread until SIGTERM or Ctrl-C, then stops cleanly. A
    second Ctrl-C while stopping interrupts the wait."""
    stop = threading.Event()

    def request_stop(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {
        s: signal.signal(s, request_stop) for s in (signal.SIGTERM, signal.SIGINT)
    }
    thread = threading.Thread(target=server.serve_forever, args=(0.2,), daemon=True)
    try:
        thread.start()
        on_ready()
        while not stop.wait(0.5):
            pass
        server.stop()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
