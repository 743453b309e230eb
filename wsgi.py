"""The WSGI app for production servers. ``rotest server`` serves it with
gunicorn; to run gunicorn yourself, upgrade the database, then give gunicorn
the project's settings and hooks (threaded workers, the graceful stop)::

    rotest db upgrade
    gunicorn -c python:app.gunicorn_conf wsgi:app --bind 0.0.0.0:8000
"""
from app import create_app

app = create_app()
