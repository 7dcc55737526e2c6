"""Server-side batching: concurrent requests gathered into one model call.

As TF Serving's batching does, requests that can share a call (the same
version, signature and scalar options) are gathered until the batch holds
`max_batch_size` examples or the first request has waited `timeout`
seconds. They are concatenated along the batch axis, run as one call, and
each request gets its own rows back.

No thread of its own: the first request of a batch (its leader) waits,
runs the call and hands out the answers; the others wait for theirs. A
request of `max_batch_size` examples or more runs alone, and so does a
leader with no other request in the batcher: with one client at a time,
waiting for company would only add the timeout to every request.
"""

import threading

import numpy as np


class _Request:
    def __init__(self, inputs, rows):
        self.inputs = inputs
        self.rows = rows
        self.done = threading.Event()
        self.outputs = None
        self.error = None


class _Batch:
    def __init__(self):
        self.requests = []
        self.rows = 0
        self.closed = threading.Event()  # full, or its wait is over

    def add(self, request):
        self.requests.append(request)
        self.rows += request.rows


class Batcher:
    """Gathers concurrent calls that share a key into one call.

    Args:
        max_batch_size: The most examples a gathered call holds.
        timeout: Seconds the first request of a batch waits for others.
        wait_alone: Whether a leader waits even when no other request is
            in the batcher (False: it runs at once).
    """

    def __init__(self, max_batch_size=32, timeout=0.002, wait_alone=False):
        self.max_batch_size = max_batch_size
        self.timeout = timeout
        self.wait_alone = wait_alone
        self._active = 0  # requests inside `call`
        self._lock = threading.Lock()
        self._forming = {}  # key -> the _Batch that requests may still join
        self.calls = 0  # model calls made, for the curious and the tests

    def call(self, key, function, inputs, rows, batched):
        """`function(inputs)` for this request's `rows`, possibly run in one
        call with other requests of the same `key`.

        Args:
            key: Requests with equal keys may share a call; inputs not in
                `batched` must be equal among them.
            function: `{name: array}` in, `{name: array}` out, every output
                with the batch on its first axis.
            inputs: This request's `{name: array}`.
            rows: Its batch size.
            batched: The names of the inputs with a batch axis.
        """
        if rows >= self.max_batch_size:
            self._count_call()
            return function(inputs)
        with self._lock:
            self._active += 1
        try:
            return self._gathered(key, function, _Request(inputs, rows), batched)
        finally:
            with self._lock:
                self._active -= 1

    def _gathered(self, key, function, request, batched):
        rows = request.rows
        with self._lock:
            batch = self._forming.get(key)
            leader = batch is None or batch.rows + rows > self.max_batch_size
            if leader:
                if batch is not None:
                    batch.closed.set()  # no room: its leader runs it now
                batch = self._forming[key] = _Batch()
            batch.add(request)
            if batch.rows >= self.max_batch_size:
                del self._forming[key]
                batch.closed.set()
            alone = self._active == 1
        if not leader:
            request.done.wait()
            if request.error is not None:
                raise request.error
            return request.outputs
        if self.wait_alone or not alone:
            batch.closed.wait(self.timeout)
        with self._lock:
            if self._forming.get(key) is batch:
                del self._forming[key]  # no one joins it from now on
        return self._run(batch, function, batched)

    def _count_call(self):
        with self._lock:
            self.calls += 1

    def _run(self, batch, function, batched):
        first = batch.requests[0].inputs
        inputs = {
            name: np.concatenate([r.inputs[name] for r in batch.requests])
            if name in batched
            else value
            for name, value in first.items()
        }
        self._count_call()
        try:
            outputs = function(inputs)
        except Exception as error:
            for request in batch.requests[1:]:
                request.error = error
                request.done.set()
            raise
        start = 0
        for request in batch.requests:
            end = start + request.rows
            request.outputs = {k: v[start:end] for k, v in outputs.items()}
            request.done.set()
            start = end
        return batch.requests[0].outputs


def batchable(function):
    """Whether requests to `function` can share a call and each get the
    answer it would get alone: every input is batched or a scalar option,
    and every output has the batch first and a fixed shape after it. (An
    output that grows with the longest text of a batch, such as an
    attention map, would hand a request rows padded to another's length.)"""
    _, inputs = function.structured_input_signature
    for spec in inputs.values():
        if spec.shape.rank is None or (spec.shape.rank and spec.shape[0] is not None):
            return False
    for spec in function.structured_outputs.values():
        shape = spec.shape
        if not shape.rank or shape[0] is not None or not shape[1:].is_fully_defined():
            return False
    return True
