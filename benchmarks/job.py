"""Benchmark of the whole analysis job against the plain forward pass, and its peak memory.

Each measurement runs in a fresh interpreter (``--child``), on a folder of
Fashion-MNIST PNGs (Debian's ``dataset-fashion-mnist``, written once into
``--work-dir``):

* ``job``: ``analysis.pipeline.run`` on a fresh result cache, exactly as the
  app's background job calls it: scan, hash, model load, extraction (image
  decoding and resizing included), findings, storing.  The clock starts at the
  call (Keras is imported before it, as the app's job processes have it
  preloaded); the import is reported apart.  Phases are timed from the job's
  own progress reports.  Peak RSS is the process's ``ru_maxrss``, also taken after
  the import and at the end of each phase (where the memory goes).
* ``forward``: the same model built the same way, the same images decoded and
  preprocessed beforehand (untimed), then only ``model.predict_on_batch`` over
  them in batches of the job's size.

``job_over_forward`` = job seconds / forward seconds; ``cpu_job_over_forward`` the
same with process CPU seconds (steadier when other work shares the cores).  Targets (issue 11):
<= 1.15 and peak RSS <= 1,400 MB for VGG16 at N=200 (224 px, random weights);
peak RSS <= 2,000 MB at N=50,000 (``--large``; the demo model stands in).

    .venv/bin/python benchmarks/job.py --json
    .venv/bin/python benchmarks/job.py --model vgg16:random --n 200
    .venv/bin/python benchmarks/job.py --large 50000 --large-model demo --no-main
"""

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from analysis.fulldemo import CLASSES, SOURCE, read_idx  # noqa: E402

FASHION = Path(SOURCE)
RATIO_TARGET, RSS_TARGET_MB, LARGE_RSS_TARGET_MB = 1.15, 1400, 2000


def image_folder(work_dir: Path, n: int) -> Path:
    """``work_dir/fashion-<n>/<class>/<i>.png``: the first ``n`` training images (made once)."""
    from PIL import Image

    folder = work_dir / f"fashion-{n}"
    done = folder / ".complete"
    if done.exists():
        return folder
    images = read_idx(FASHION / "train-images-idx3-ubyte.gz")
    labels = read_idx(FASHION / "train-labels-idx1-ubyte.gz")
    if n > len(images):
        sys.exit(f"--n {n}: Fashion-MNIST's training split has {len(images)} images")
    for name in CLASSES:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(images[i]).save(folder / CLASSES[labels[i]] / f"{i:05d}.png")
    done.touch()
    return folder


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_job(args) -> dict:
    started = time.perf_counter()
    from analysis import extraction, pipeline, store  # noqa: F401  (Keras enters here)
    import_s, import_rss_mb = time.perf_counter() - started, peak_rss_mb()
    phases, peaks, last = {}, {}, [None, time.perf_counter()]

    def progress(phase, done, total):
        now = time.perf_counter()
        if last[0] is not None:
            phases[last[0]] = phases.get(last[0], 0.0) + now - last[1]
            peaks[last[0]] = round(peak_rss_mb(), 1)  # the process's peak by the end of the phase
        last[:] = [phase, now]

    request = pipeline.Request(model=args.model, data=args.data, batch_size=args.batch_size)
    with tempfile.TemporaryDirectory() as cache_dir:
        cache = store.open_cache(cache_dir, 8 * 2**30)
        started, cpu = time.perf_counter(), time.process_time()
        summary = pipeline.run(request, data_roots=[args.data], model_roots=[args.data], cache=cache,
                               progress=progress, n_threads=args.threads)
        job_s, job_cpu_s = time.perf_counter() - started, time.process_time() - cpu
        progress("end", 0, 0)
        stored_mb = sum(f.stat().st_size for f in Path(cache_dir).rglob("*") if f.is_file()) / 2**20
        cache.close()
    return {"mode": "job", "n": summary["n"], "import_s": round(import_s, 2), "job_s": round(job_s, 2),
            "job_cpu_s": round(job_cpu_s, 2), "phases_s": {k: round(v, 2) for k, v in phases.items()}, "stored_mb": round(stored_mb, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1), "import_rss_mb": round(import_rss_mb, 1),
            "peak_rss_mb_by_phase": peaks}


def child_forward(args) -> dict:
    from analysis import budget, datasets, extraction, pipeline

    kind, value = pipeline.resolve_model(args.model, [args.data])
    extraction.configure_threads(args.threads)
    model, mode = pipeline._load_model(kind, value)
    height, width, channels = extraction.image_input_shape(model)
    folder = datasets.scan_folder(args.data)
    images = datasets.ImageBatches(folder, (height, width), channels, mode)[0:len(folder)]
    bs, total = budget.batch_for_memory(model, args.batch_size), len(images)  # as the job does
    model.predict_on_batch(images[:bs])  # trace once, as the job's extractor does on its first batch
    started, cpu = time.perf_counter(), time.process_time()
    for start in range(0, total, bs):
        batch = images[start:start + bs]
        if len(batch) < bs and total > bs:
            batch = np.concatenate([batch, np.zeros((bs - len(batch),) + batch.shape[1:], np.float32)])
        np.asarray(model.predict_on_batch(batch))
    return {"mode": "forward", "n": total, "batch_size": bs, "forward_s": round(time.perf_counter() - started, 2),
            "forward_cpu_s": round(time.process_time() - cpu, 2),
            "peak_rss_mb": round(peak_rss_mb(), 1)}


def spawn(mode, model, data, args) -> dict:
    command = [sys.executable, __file__, "--child", mode, "--model", model, "--data", str(data),
               "--batch-size", str(args.batch_size), "--threads", str(args.threads)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"child {mode} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"  {mode:8} {json.dumps(result)}")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="vgg16:random")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=32, help="the app's default batch size")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--large", type=int, default=0, metavar="N",
                        help="also the job's peak RSS at N images (e.g. 50000)")
    parser.add_argument("--large-model", default="demo")
    parser.add_argument("--no-main", action="store_true", help="skip the N=--n comparison")
    parser.add_argument("--work-dir", default=str(Path.home() / ".cache" / "channelexplorer-bench"))
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--child", choices=("job", "forward"))
    parser.add_argument("--data")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps((child_job if args.child == "job" else child_forward)(args)))
        return
    result = {"load_before": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}
    with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
        if not args.no_main:
            data = image_folder(Path(args.work_dir), args.n)
            print(f"{args.model}, N={args.n}, batch {args.batch_size}:")
            forward = spawn("forward", args.model, data, args)
            job = spawn("job", args.model, data, args)
            ratio = job["job_s"] / forward["forward_s"]
            cpu_ratio = job["job_cpu_s"] / forward["forward_cpu_s"]
            result["main"] = {"model": args.model, "n": args.n, "job_s": job["job_s"],
                              "forward_s": forward["forward_s"], "job_over_forward": round(ratio, 3),
                              "cpu_job_over_forward": round(cpu_ratio, 3),
                              "batch_size": forward["batch_size"],
                              "peak_rss_mb": job["peak_rss_mb"], "forward_peak_rss_mb": forward["peak_rss_mb"],
                              "import_rss_mb": job["import_rss_mb"],
                              "peak_rss_mb_by_phase": job["peak_rss_mb_by_phase"],
                              "import_s": job["import_s"], "phases_s": job["phases_s"]}
            print(f"job / forward {ratio:.3f} (CPU seconds {cpu_ratio:.3f}; target <= {RATIO_TARGET}); job peak RSS "
                  f"{job['peak_rss_mb']:.0f} MB (target <= {RSS_TARGET_MB})")
        if args.large:
            data = image_folder(Path(args.work_dir), args.large)
            print(f"{args.large_model}, N={args.large}:")
            job = spawn("job", args.large_model, data, args)
            result["large"] = {"model": args.large_model, "n": args.large, "job_s": job["job_s"],
                               "peak_rss_mb": job["peak_rss_mb"], "phases_s": job["phases_s"],
                               "peak_rss_mb_by_phase": job["peak_rss_mb_by_phase"]}
            print(f"job peak RSS {job['peak_rss_mb']:.0f} MB (target <= {LARGE_RSS_TARGET_MB})")
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
