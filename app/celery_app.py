"""Celery entry point: ``celery -A app.celery_app worker --pool prefork --max-tasks-per-child 20``.

The worker builds the same Dash app as Gunicorn (same ``CHANNELEXPLORER_*``
environment, ``CHANNELEXPLORER_BACKGROUND=celery``), which registers every
background callback as a Celery task under the same name.  Building the app
loads no model and no TensorFlow: the prefork pool forks its children from a
parent that never ran Keras (TensorFlow is not fork-safe), and each task loads
the model itself, inside the child.  ``--max-tasks-per-child`` recycles a
child after that many jobs, returning the memory TensorFlow keeps.
"""

from app import create_app
from app.config import from_env

config = from_env().with_overrides(background="celery", warm_umap=False)
dash_app = create_app(config)
celery_app = dash_app._background_manager.handle  # the Celery app the callbacks were registered on
app = celery_app  # ``celery -A app.celery_app`` finds ``app``
