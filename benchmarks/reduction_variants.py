"""Where the demo model's extraction cost goes: the app's sub-model against other ways of
reducing the same maps (issue 11's demo ratio).

Every variant is one Keras sub-model of the demo model (all conv and dense layers reduced
inside the graph, plus the model's output, packed into one output as the app does), timed
with ``predict_on_batch`` on one fixed batch, the variants interleaved over ``--repeats``;
medians and the median of per-repeat ratios to the plain forward pass.  With TensorFlow only.

    .venv/bin/python benchmarks/reduction_variants.py                 # default thread pools
    .venv/bin/python benchmarks/reduction_variants.py --threads 1     # one intra- and inter-op thread
    .venv/bin/python benchmarks/reduction_variants.py --json

Variants (each reads every chosen layer's maps):

* ``app``: the app's ``Extractor`` (mean, max, L2, fraction > 0: ``analysis.reductions``);
* ``one_reduction_four_outputs``: one mean per layer, returned four times (the cost of the
  outputs and the packing alone);
* ``mean_max``, ``mean_max_l2``, ``mean_max_frac``: subsets of the four;
* ``matmul_sums``: sums (mean, fraction > 0) as a product with ones, as the app does on
  maps of at least 64 x 64;
* ``avg_pool``: means by average pooling over the whole map;
* ``split_batch`` / ``split_channels``: the four reductions on two halves of each map
  (batch or channel axis), so two threads can share them.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-size", type=int, default=32, help="the app's batch")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--calls", type=int, default=60, help="batches per timing")
    parser.add_argument("--threads", type=int, default=0, help="intra- and inter-op threads (0: default)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import numpy as np
    import keras
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from analysis import extraction
    from analysis.reductions import _Packed
    from analysis.summaries import DEFAULT_SUMMARIES

    path = ROOT / "demo" / "model" / "fashion_vgg.keras"
    if not path.exists():
        sys.exit(f"{path.relative_to(ROOT)} not found (demo/build_demo.py makes it)")
    model = extraction.load_model_file(str(path))
    layers = extraction.conv_dense_layers(model)

    class Reduce(keras.layers.Layer):
        def __init__(self, fn, **kwargs):
            super().__init__(**kwargs)
            self.fn = fn

        def call(self, tensor):
            return self.fn(tensor)

    def flat(x):
        if len(x.shape) == 2:
            return x[:, None, :]
        return tf.reshape(x, (-1, int(np.prod(x.shape[1:-1])), x.shape[-1]))

    def dense_case(f):
        value = f[:, 0, :]
        return [value, value, tf.abs(value), tf.sign(value)]

    def four(f):
        return [tf.reduce_mean(f, 1), tf.reduce_max(f, 1), tf.math.reduce_euclidean_norm(f, 1),
                tf.reduce_mean(tf.sign(f), 1)]

    def one_four(x):
        mean = tf.reduce_mean(flat(x), 1)
        return [mean, mean * 2, mean * 3, mean * 4]

    def subset(names):
        def fn(x):
            f = flat(x)
            parts = {"mean": lambda: tf.reduce_mean(f, 1), "max": lambda: tf.reduce_max(f, 1),
                     "l2": lambda: tf.math.reduce_euclidean_norm(f, 1),
                     "frac": lambda: tf.reduce_mean(tf.sign(f), 1)}
            return [parts[name]() for name in names]
        return fn

    def matmul_sums(x):
        f = flat(x)
        if f.shape[1] == 1:
            return dense_case(f)
        positions = f.shape[1]
        ones = tf.ones(tf.stack([tf.shape(f)[0], 1, positions]), tf.float32)
        mean = lambda v: tf.squeeze(tf.linalg.matmul(ones, v), 1) / positions  # noqa: E731
        return [mean(f), tf.reduce_max(f, 1), tf.math.reduce_euclidean_norm(f, 1), mean(tf.sign(f))]

    def avg_pool(x):
        if len(x.shape) == 2:
            return dense_case(x[:, None, :])
        window, channels = x.shape[1:3], x.shape[-1]
        pool = lambda v: tf.reshape(tf.nn.avg_pool2d(v, window, window, "VALID"), (-1, channels))  # noqa: E731
        return [pool(x), tf.reduce_max(x, [1, 2]), tf.math.reduce_euclidean_norm(x, [1, 2]), pool(tf.sign(x))]

    def split(axis):
        def fn(x):
            f = flat(x)
            if f.shape[1] == 1 or (axis == 2 and f.shape[2] < 2):
                return dense_case(f) if f.shape[1] == 1 else four(f)
            halves = [four(h) for h in tf.split(f, 2, axis=axis)]
            return [tf.concat([a, b], 0 if axis == 0 else 1) for a, b in zip(*halves)]
        return fn

    def build(fn):
        outputs = []
        for name in layers:
            outputs.extend(Reduce(fn)(model.get_layer(name).output))
        outputs.append(model.outputs[0])
        return keras.Model(model.inputs, _Packed()(outputs))

    variants = {
        "forward": model,
        "app": extraction.Extractor(model, layers, DEFAULT_SUMMARIES).submodel,
        "one_reduction_four_outputs": build(one_four),
        "mean_max": build(subset(["mean", "max"])),
        "mean_max_l2": build(subset(["mean", "max", "l2"])),
        "mean_max_frac": build(subset(["mean", "max", "frac"])),
        "matmul_sums": build(matmul_sums),
        "avg_pool": build(avg_pool),
        "split_batch": build(split(0)),
        "split_channels": build(split(2)),
    }
    batch = np.random.default_rng(0).uniform(0, 255, (args.batch_size, 28, 28, 1)).astype(np.float32)
    for variant in variants.values():
        variant.predict_on_batch(batch)  # trace once, untimed
    times = {name: [] for name in variants}
    load_before = os.getloadavg()[0]
    for _ in range(args.repeats):
        for name, variant in variants.items():
            started = time.perf_counter()
            for _ in range(args.calls):
                variant.predict_on_batch(batch)
            times[name].append((time.perf_counter() - started) / args.calls)
    base = times["forward"]
    result = {name: {"ms_per_batch": round(statistics.median(values) * 1e3, 3),
                     "ratio": round(statistics.median(b / v for b, v in zip(base, values)), 3)}
              for name, values in times.items()}
    meta = {"batch_size": args.batch_size, "repeats": args.repeats, "threads": args.threads or "default",
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
            "backend": keras.backend.backend()}
    if args.json:
        print(json.dumps({"meta": meta, "variants": result}))
        return
    print(f"demo model, batch {args.batch_size}, {args.repeats} interleaved repeats of {args.calls} "
          f"batches, threads {meta['threads']}, load {meta['load_before']} -> {meta['load_after']}")
    print(f"{'variant':30}{'ms/batch':>10}{'ratio':>8}")
    for name, row in result.items():
        print(f"{name:30}{row['ms_per_batch']:10.2f}{row['ratio']:8.3f}")
    print("ratio: median over repeats of forward time / variant time (1.0 = as fast as the forward pass)")


if __name__ == "__main__":
    main()
