"""`rnnkit serve`: TF Serving's REST API on an export, from Python.

The same paths and JSON as `tensorflow_model_server --rest_api_port`, so a
client tried against `rnnkit serve` on a laptop works unchanged against TF
Serving in production:

- `versions`: loads the highest version of a model folder and swaps in
  newer ones as they appear (TF Serving's file-system source);
- `rest`: the request and response JSON, model status and metadata;
- `batching`: gathers concurrent requests into one call of the model;
- `app`: what each URL answers, apart from HTTP;
- `server`: the HTTP server (the standard library's threading server).
"""
