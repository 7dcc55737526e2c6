"""PyTorch's nn.RNN / nn.GRU / nn.LSTM, timed at the shape `layers.py` uses,
for its optional PyTorch column.

It runs in a process of its own (PyTorch's registry wheel has crashed when
imported next to TensorFlow) and answers one command per input line, so the
caller can interleave it with its own timings:

    python benchmarks/torch_worker.py lstm --batch 64 --timesteps 100 ...
    < train      > 0.8123     (seconds for one epoch of `--batches` batches)
    < infer      > 0.2011
"""

import argparse
import sys
import time

try:
    import torch
except ImportError as error:
    raise SystemExit(f"{sys.executable}: {error}") from None

MODULES = {
    "rnn": lambda d, h, bi: torch.nn.RNN(d, h, batch_first=True, bidirectional=bi),
    "gru": lambda d, h, bi: torch.nn.GRU(d, h, batch_first=True, bidirectional=bi),
    "lstm": lambda d, h, bi: torch.nn.LSTM(d, h, batch_first=True, bidirectional=bi),
}


class Model(torch.nn.Module):
    """The recurrent layer's final state (both directions' when
    bidirectional), then one linear output: the benchmark's Keras model."""

    def __init__(self, kind, features, units, bidirectional):
        super().__init__()
        self.recurrent = MODULES[kind](features, units, bidirectional)
        self.head = torch.nn.Linear(units * (2 if bidirectional else 1), 1)
        self.bidirectional = bidirectional

    def forward(self, x):
        _, final = self.recurrent(x)
        h = final[0] if isinstance(final, tuple) else final  # LSTM: (h, c)
        last = torch.cat([h[-2], h[-1]], 1) if self.bidirectional else h[-1]
        return self.head(last)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=sorted(MODULES))
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--timesteps", type=int, required=True)
    parser.add_argument("--features", type=int, required=True)
    parser.add_argument("--units", type=int, required=True)
    parser.add_argument("--batches", type=int, required=True)
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    model = Model(args.kind, args.features, args.units, args.bidirectional)
    optimizer = torch.optim.Adam(model.parameters())
    batches = [
        (
            torch.randn(args.batch, args.timesteps, args.features),
            torch.randn(args.batch, 1),
        )
        for _ in range(args.batches)
    ]

    def train():
        model.train()
        for x, y in batches:
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(model(x), y).backward()
            optimizer.step()

    def infer():
        model.eval()
        with torch.inference_mode():
            for x, _ in batches:
                model(x)

    phases = {"train": train, "infer": infer}
    print(f"ready torch {torch.__version__}, {torch.get_num_threads()} threads")
    sys.stdout.flush()
    for line in sys.stdin:
        start = time.perf_counter()
        phases[line.strip()]()
        print(time.perf_counter() - start, flush=True)


if __name__ == "__main__":
    main()
