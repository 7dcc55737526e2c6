"""`rnnkit serve`: TF Serving's REST API on an export (see `rnnkit.serving`)."""

import sys

from rnnkit.templates import quiet_start
from rnnkit.templates.errors import UsageError

MEBIBYTE = 2**20


def add_serve(subparsers):
    parser = subparsers.add_parser(
        "serve",
        help="serve a SavedModel with TF Serving's REST API",
        description="Serves the highest version of EXPORT_DIR with TF "
        "Serving's REST API (GET /v1/models/<name>[/metadata], POST "
        "/v1/models/<name>:predict), so a client works unchanged against "
        "tensorflow_model_server --rest_api_port. New versions are swapped in "
        "as they appear; concurrent requests are batched. Ctrl-C or SIGTERM "
        "stops it. Models are programs: serve only exports you trust.",
    )
    parser.add_argument(
        "export_dir", help="saved_models/<name> (its versions) or one version folder"
    )
    parser.add_argument("--port", type=int, default=8501, help="0 takes a free one")
    parser.add_argument(
        "--host", default="127.0.0.1", help="the address to bind; 0.0.0.0: all"
    )
    parser.add_argument("--name", help="the model name in URLs; default: the folder's")
    parser.add_argument(
        "--max-batch-size",
        type=int,
        default=32,
        help="examples a batched call gathers at most",
    )
    parser.add_argument(
        "--batch-timeout-ms",
        type=float,
        default=2.0,
        help="how long a request waits for others to batch with",
    )
    parser.add_argument(
        "--no-batching", action="store_true", help="run every request alone"
    )
    parser.add_argument(
        "--poll-seconds", type=float, default=1.0, help="how often to look for versions"
    )
    parser.add_argument(
        "--max-request-batch",
        type=int,
        default=1024,
        help="examples one request may hold",
    )
    parser.add_argument(
        "--max-body-mb", type=float, default=16.0, help="the largest request body"
    )
    parser.set_defaults(
        handler=cmd_serve, precheck=precheck_serve, **quiet_start.SAVED_MODEL_ONLY
    )


def precheck_serve(args):
    """The arguments, and a folder with something to serve, before
    TensorFlow."""
    from rnnkit.serving import versions
    from rnnkit.templates import names

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be in 0..65535. Received: {args.port}")
    if args.name is not None:
        names.path_component(args.name, "--name")
    for flag, value, low in [
        ("--max-batch-size", args.max_batch_size, 1),
        ("--max-request-batch", args.max_request_batch, 1),
        ("--batch-timeout-ms", args.batch_timeout_ms, 0),
        ("--poll-seconds", args.poll_seconds, 0.05),
        ("--max-body-mb", args.max_body_mb, 0.001),
    ]:
        if not value >= low:
            raise UsageError(f"{flag} must be at least {low}. Received: {value}")
    versions.check_servable(args.export_dir)


def cmd_serve(args):
    from rnnkit.serving import app, batching, server, versions

    watcher = versions.VersionWatcher(args.export_dir, args.poll_seconds)
    version = watcher.start()
    name = args.name or watcher.folder.resolve().name
    batcher = None
    if not args.no_batching:
        batcher = batching.Batcher(args.max_batch_size, args.batch_timeout_ms / 1000)
    api = app.ServingApp(name, watcher, batcher, args.max_request_batch)
    http = server.Server((args.host, args.port), api, int(args.max_body_mb * MEBIBYTE))

    def ready():
        signatures = ", ".join(sorted(version.signatures))
        print(
            f"serving {name} version {version.number} at "
            f"{http.url}/v1/models/{name} (signatures: {signatures}); "
            "Ctrl-C stops it",
            flush=True,
        )

    try:
        server.serve_until_stopped(http, ready)
    finally:
        watcher.stop()
    print("stopped", file=sys.stderr)
    return 0
