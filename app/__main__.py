"""``python -m app [--model ...] [--data ...]``: serve ChannelExplorer (demo by default)."""

import sys

from app import create_app
from app.config import from_args, resolve_demo


def main(argv=None) -> int:
    config = resolve_demo(from_args(argv))
    app = create_app(config)
    print(f"ChannelExplorer on http://{config.host}:{config.port}/  (model: {config.model}, "
          f"data: {config.data}, cache: {config.cache_dir})", flush=True)
    app.run(host=config.host, port=config.port, debug=config.debug)
    return 0


if __name__ == "__main__":
    sys.exit(main())
