"""The README's callback map is the app's: generated from ``app.callback_map``."""

from app import callbackmap, create_app
from app.config import Config


def test_readme_callback_map_matches_the_app(tmp_path):
    app = create_app(Config(cache_dir=str(tmp_path / "cache"), data_dir=str(tmp_path),
                            warm_umap=False))
    with open(callbackmap.README, encoding="utf-8") as handle:
        shown = callbackmap.readme_block(handle.read())
    assert shown is not None, "README.md lost its callback-map markers"
    assert shown == callbackmap.table(app), "README callback map is stale: run python -m app.callbackmap"
    assert "`ablation-button.n_clicks`" in shown
    assert len(callbackmap.rows(app)) == len(app.callback_map)
