"""``python -m app [--model ...] [--data ...]``: serve ChannelExplorer (demo by default);
``python -m app analyse ...``: the same analysis without a server (see app/cli.py)."""

import sys

from app.config import from_args, resolve_demo


def startup_problem(config) -> str | None:
    """Why the ``--model``/``--data`` given at start cannot be analysed (one line), or None.

    Checked before the server starts, without Keras: paths, folder layout, model file.
    """
    import os

    from analysis import datasets, pipeline

    model = (config.model or "").strip()
    if (os.sep in model or model.endswith((".keras", ".h5"))) and not os.path.exists(
            os.path.expanduser(model)):
        return f"Model file {datasets.shorten(model)} does not exist."
    request = pipeline.Request(model=config.model, data=config.data, layers=config.layers,
                               preprocess=config.preprocess, batch_size=config.batch_size)
    try:
        pipeline.prepare(request, data_roots=config.allowed_roots, model_roots=config.allowed_roots)
    except pipeline.AnalysisError as error:
        return " ".join(str(error).split())
    return None


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["analyse"]:  # headless: python -m app analyse --model M --data D [--json]
        from app.cli import run
        return run(argv[1:])
    config = resolve_demo(from_args(argv))
    problem = startup_problem(config)
    if problem:
        print(f"channelexplorer: {problem}", file=sys.stderr)
        return 2
    from app import create_app

    app = create_app(config)
    print(f"ChannelExplorer on http://{config.host}:{config.port}/  (model: {config.model}, "
          f"data: {config.data}, cache: {config.cache_dir})", flush=True)
    app.run(host=config.host, port=config.port, debug=config.debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
