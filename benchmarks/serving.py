"""Requests per second and latency of `rnnkit serve`, with and without
server-side batching, against the same SavedModel called in-process.

Each request carries one text of the classification template's bundled
data. N client threads each send their share of the requests back to back
(over one keep-alive connection each, for the server), so N requests are in
flight at a time. The in-process baseline makes the same calls on the
SavedModel's `serving_default` from N threads of this process: what
serving costs over calling the model, and what batching wins back.

The model is the classification template's, untrained (speed does not
depend on the weights). Repetitions interleave the three methods and the
script reports the medians; the servers are started once and stopped with
SIGTERM at the end. Clients and servers share this machine's cores.

    python benchmarks/serving.py                   # 1, 8, 32 clients
    python benchmarks/serving.py --clients 1 4 --requests 400 --repeats 5
"""

import argparse
import http.client
import json
import os
import pathlib
import queue
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from untrained import add_set_option, set_overrides, untrained_export  # noqa: E402

IN_PROCESS = "in-process SavedModel"
SERVERS = {  # method: the flags of `rnnkit serve` beyond the defaults
    "rnnkit serve, batching": [],
    "rnnkit serve, no batching": ["--no-batching"],
}
TEXTS = 64  # distinct texts the requests cycle through
WARM_UP = 2  # untimed requests per client, over its own connection
READY = re.compile(r"^serving .* at (http://\S+) ")
READY_SECONDS = 300  # loading a SavedModel on a busy machine can be slow
STOP_SECONDS = 60
TOLERANCE = 1e-4  # float32 rows computed in a batch vs alone


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument(
        "--requests",
        type=int,
        default=200,
        help="timed requests per (clients, method) run, split over the clients",
    )
    parser.add_argument("--repeats", type=int, default=3)
    add_set_option(parser, "classification", "units=128")
    args = parser.parse_args(argv)
    if min(args.clients) < 1 or args.repeats < 1:
        parser.error("--clients and --repeats must be at least 1")
    if args.requests < max(args.clients):
        # Otherwise some clients would send nothing and fewer would be busy.
        parser.error("--requests must be at least the largest --clients")
    return args


def exported_model(args, folder):
    """The export's versions folder, named as the model's URLs name it, and
    its metadata and a few texts of its data."""
    root = pathlib.Path(folder) / "classification"
    made = untrained_export("classification", set_overrides(args), root)
    return root, made.meta, list(made.data.train.texts[:TEXTS])


# Clients ------------------------------------------------------------------


def in_process(path):
    """`make_client` for the baseline: all threads share one loaded model,
    as a server's request threads do."""
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]

    def make_client():
        def send(text):
            return serve(text=tf.constant([text]))["probabilities"].numpy()[0]

        return send, lambda: None

    return make_client


def over_http(url):
    """`make_client` for a server: each client its own keep-alive connection."""
    parts = urllib.parse.urlsplit(url)
    path = f"{parts.path}:predict"
    headers = {"Content-Type": "application/json"}

    def make_client():
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

        def send(text):
            body = json.dumps({"instances": [text]})
            connection.request("POST", path, body, headers)
            response = connection.getresponse()
            data = response.read()  # read in full, or the connection is not reusable
            if response.status != 200:
                raise RuntimeError(f"{url}: HTTP {response.status}: {data[:300]!r}")
            return data  # parsed after the timing, to time the server only

        return send, connection.close

    return make_client


def shares(requests, clients):
    """`requests` split as evenly as possible over `clients`."""
    return [requests // clients + (i < requests % clients) for i in range(clients)]


def load(make_client, texts, clients, requests):
    """Runs `requests` over `clients` threads that start together after
    their warm-up; returns `(seconds, [latency seconds], [(text, answer)])`."""
    start_line = threading.Barrier(clients + 1)
    latencies, answers, errors = [], [], []  # list.append is atomic

    def client(index, count):
        close = None
        try:
            send, close = make_client()
            for i in range(WARM_UP):  # the first opens the connection
                send(texts[(index + i) % len(texts)])
            start_line.wait()
            for i in range(count):
                # Strided, so that the requests in flight carry different texts.
                text = texts[(i * clients + index) % len(texts)]
                start = time.perf_counter()
                answer = send(text)
                latencies.append(time.perf_counter() - start)
                answers.append((text, answer))
        except Exception as error:
            errors.append(error)
            start_line.abort()  # no one waits for a client that failed
        finally:
            if close:
                close()

    threads = [
        threading.Thread(target=client, args=(i, n), daemon=True)
        for i, n in enumerate(shares(requests, clients))
    ]
    for thread in threads:
        thread.start()
    try:
        start_line.wait()
    except threading.BrokenBarrierError:
        pass  # a client failed; its error is raised below
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    if errors:
        raise errors[0]
    return seconds, latencies, answers


def check_answers(method, answers, expected):
    """Each served answer is the one the model gives that text alone: a
    batch must hand every request its own rows."""
    for text, data in answers:
        predictions = json.loads(data)["predictions"]
        if len(predictions) != 1:
            raise RuntimeError(f"{method}: {len(predictions)} predictions for 1 text")
        got = np.array(predictions[0]["probabilities"])
        if not np.allclose(got, expected[text], atol=TOLERANCE):
            raise RuntimeError(
                f"{method}: wrong answer for {text[:40]!r}: {got} instead of "
                f"{expected[text]}"
            )


# Servers ------------------------------------------------------------------


def start_server(path, flags):
    """`(process, url)` of `rnnkit serve` on a free port, once it is ready."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rnnkit", "serve", str(path), "--port", "0", *flags],
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = queue.Queue()

    def read():  # also drains stdout for the server's whole life
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + READY_SECONDS
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0))
        except queue.Empty:
            process.kill()
            message = f"rnnkit serve {flags}: not ready in {READY_SECONDS} s"
            raise RuntimeError(message) from None
        if line is None:
            code = process.wait()
            raise RuntimeError(f"rnnkit serve {flags} exited ({code}) before ready")
        found = READY.match(line)
        if found:
            return process, found[1]


def stop_server(process, method):
    """SIGTERM, as a service manager stops it; it should exit 0 promptly.
    Returns what went wrong, or `None`, so that every server gets stopped."""
    if process.poll() is not None:
        return f"{method}: exited by itself with {process.returncode}"
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return f"{method}: still running {STOP_SECONDS} s after SIGTERM"
    return f"{method}: exited with {code} after SIGTERM" if code else None


# Measurement --------------------------------------------------------------


def measure(contenders, texts, args, expected):
    """`{(clients, method): [(requests/s, p50 s, p99 s)]}`, one per repeat;
    each repeat runs every method at every client count once, so slow
    spells of a shared machine hit them all alike."""
    runs = {(c, m): [] for c in args.clients for m in contenders}
    for _ in range(args.repeats):
        for clients in args.clients:
            for method, make_client in contenders.items():
                seconds, latencies, answers = load(
                    make_client, texts, clients, args.requests
                )
                if method != IN_PROCESS:
                    check_answers(method, answers, expected)
                p50, p99 = np.percentile(latencies, [50, 99])
                runs[clients, method].append((len(latencies) / seconds, p50, p99))
    return runs


def main(argv=None):
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        root, meta, texts = exported_model(args, folder)
        make_in_process = in_process(root / "1")
        send, _ = make_in_process()
        expected = {text: send(text) for text in texts}  # also a warm-up
        contenders = {IN_PROCESS: make_in_process}
        servers = {}
        try:
            for method, flags in SERVERS.items():
                servers[method], url = start_server(root, flags)
                contenders[method] = over_http(url)
            runs = measure(contenders, texts, args, expected)
        finally:
            problems = [stop_server(p, m) for m, p in servers.items()]
    if any(problems):
        raise RuntimeError("; ".join(filter(None, problems)))
    config = meta["hyperparameters"]
    direction = "bidirectional " if config["bidirectional"] else ""
    print(
        f"{args.requests} requests of 1 text per run, {direction}{config['cell']} "
        f"{config['units']} units x {config['layers']}, sequence_length "
        f"{config['sequence_length']}, {os.cpu_count()} CPUs shared by clients "
        f"and server, TF {tf.__version__}, median of {args.repeats}\n"
    )
    print("| clients | method | requests/s | p50 ms | p99 ms | vs in-process |")
    print("|---:|---|---:|---:|---:|---:|")
    for clients in args.clients:
        baseline = statistics.median(r[0] for r in runs[clients, IN_PROCESS])
        for method in contenders:
            rate, p50, p99 = (statistics.median(v) for v in zip(*runs[clients, method]))
            print(
                f"| {clients} | {method} | {rate:,.0f} | {p50 * 1000:.1f} | "
                f"{p99 * 1000:.1f} | {rate / baseline:.2f}x |"
            )


if __name__ == "__main__":
    main()
