"""ASGI entry point for uvicorn/gunicorn: `uvicorn pv.web.asgi:app`."""

from pv.app import create_app

app = create_app()
