"""WSGI entry point: ``gunicorn -w 2 'app.wsgi:server'`` (config from CHANNELEXPLORER_* env)."""

from app import create_app
from app.config import from_env, resolve_demo

application = create_app(resolve_demo(from_env()))
server = application.server
