"""The WSGI app, for gunicorn started in the checkout (``gunicorn wsgi:app``);
installed, the same app is ``rotest_app:create_app()``, which needs no file.

``rotest server`` serves it with gunicorn; to run gunicorn yourself, upgrade
the database, then give gunicorn the project's settings and hooks (threaded
workers, the graceful stop)::

    rotest db upgrade
    gunicorn -c python:rotest_app.gunicorn_conf 'rotest_app:create_app()' --bind 0.0.0.0:8000
"""
from rotest_app import create_app

app = create_app()
