"""`Server.stop` waits for every thread that answered a connection, not only
for those whose connection is still open. A handler thread that has just
closed its connection still frees its per-thread state (TensorFlow's
among it), and the interpreter's exit aborts a process with a thread caught
in TensorFlow's C++: CI saw exit status -6 after a stop mid-request. A real
server in this process, a real HTTP client."""

import threading
import time

import requests
import tensorflow as tf

from rnnkit.serving.server import Server


class SumApp:
    """Answers each POST with a sum computed by TensorFlow in the handler
    thread, as a served model's call is, and leaves per-thread state that
    takes a while to free when the thread ends (`freed` counts it)."""

    def __init__(self):
        self.per_thread = threading.local()
        self.freed = []

    def post(self, path, body):
        self.per_thread.state = SlowToFree(self.freed)
        return 200, {"sum": float(tf.reduce_sum(tf.ones((32, 32))))}

    def get(self, path):
        return 200, {}


class SlowToFree:
    def __init__(self, freed):
        self.freed = freed

    def __del__(self):
        time.sleep(0.2)
        self.freed.append(threading.get_ident())


def test_a_stop_waits_for_every_thread_that_answered_a_connection():
    before = set(threading.enumerate())
    app = SumApp()
    server = Server(("127.0.0.1", 0), app, max_body=1 << 20)
    loop = threading.Thread(target=server.serve_forever, args=(0.05,))
    loop.start()
    answers = []
    for _ in range(20):  # one connection each, closed after its answer
        url, close = server.url + "/sum", {"Connection": "close"}
        answers.append(requests.post(url, json={}, headers=close, timeout=60).json())
    server.stop()
    loop.join()
    assert answers == [{"sum": 1024.0}] * 20
    assert len(app.freed) == 20  # every handler thread is over, not just closed
    assert set(threading.enumerate()) - before == set()
    assert not server.connections
