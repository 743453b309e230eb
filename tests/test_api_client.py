"""A client generated from the served document works: openapi-python-client
(a well-kept generator from PyPI) makes a Python client of the document as a
server with the lab's models serves it, and the client opens a session,
locks, polls and releases through the real server, on SQLite and PostgreSQL."""
from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import lab_plugin
from api_helpers import lab  # noqa: F401 - a fixture
from rotest_app.api.document import served_document
from rotest_app.models import resource_models
from server_process import ThreadedServer

PACKAGE = "rotest_lab_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """The generated client's package, importable; made once for the module."""
    assert lab_plugin.DeviceData  # the lab's models are mapped
    models = resource_models()
    where = tmp_path_factory.mktemp("client")
    document = where / "openapi.json"
    document.write_bytes(served_document(tuple(models[n] for n in sorted(models))))
    result = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path",
         str(document), "--meta", "none", "--output-path", str(where / PACKAGE)],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(where))
    yield where / PACKAGE
    sys.path.remove(str(where))
    for name in [n for n in sys.modules if n.split(".")[0] == PACKAGE]:
        del sys.modules[name]


def test_a_generated_client_locks_polls_and_releases(generated, lab, app):  # noqa: F811
    client_module = importlib.import_module(PACKAGE)
    sessions = importlib.import_module(f"{PACKAGE}.api.sessions.open_session")
    request_lock = importlib.import_module(f"{PACKAGE}.api.locks.request_lock")
    get_lock = importlib.import_module(f"{PACKAGE}.api.locks.get_lock")
    release = importlib.import_module(f"{PACKAGE}.api.locks.release")
    models = importlib.import_module(f"{PACKAGE}.models")
    token = lab["alice"].headers["Authorization"].removeprefix("Bearer ")
    server = ThreadedServer(app)
    try:
        client = client_module.AuthenticatedClient(base_url=server.url + "/api/v1",
                                                   token=token)
        session = sessions.sync(client=client, body=models.OpenSessionBody(
            description="generated client"))
        assert isinstance(session, models.Session), session
        # The lab's first model (DeviceData) is the descriptor's first variant.
        body = models.LockBody(session_id=session.id,
                               descriptors=[models.DescriptorType0(type_="DeviceData")])
        granted = request_lock.sync(client=client, body=body)
        assert isinstance(granted, models.LockRequest), granted
        assert granted.state == models.LockRequestState.GRANTED
        name = granted.resources[0].name
        polled = get_lock.sync(client=client, request_id=granted.id)
        assert isinstance(polled, models.LockRequest) and polled.id == granted.id
        assert polled.created == granted.created  # parsed as date-times
        released = release.sync(client=client, body=models.ReleaseBody(resources=[name]))
        assert isinstance(released, models.Released) and released.released == [name]
        # A refusal comes back as the document's Error.
        again = release.sync(client=client, body=models.ReleaseBody(resources=[name]))
        assert isinstance(again, models.Error), again
    finally:
        server.stop()
