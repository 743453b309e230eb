"""Shared fixtures and helpers of the JSON API tests.

Test modules import what they use; importing a fixture makes pytest see it.
"""
from __future__ import annotations

from typing import Any

import pytest

from rotest_app.models import ApiToken, Group, User, db


class Api:
    """One user's view of the API through Flask's test client."""

    def __init__(self, app, token: str) -> None:
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, body: Any = None, **kwargs):
        kwargs.setdefault("headers", self.headers)
        if body is not None:
            kwargs["json"] = body
        response = self.client.open("/api/v1" + path, method=method, **kwargs)
        assert response.status_code != 500, response.get_data(as_text=True)
        return response

    def get(self, path: str, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs):
        return self.call("POST", path, body, **kwargs)

    def delete(self, path: str, **kwargs):
        return self.call("DELETE", path, **kwargs)

    # The steps most tests take.
    def open_session(self, **body: Any) -> str:
        response = self.post("/sessions", body)
        assert response.status_code == 201, response.json
        return response.json["id"]

    def lock(self, session_id: str, *descriptors: dict, **options: Any):
        return self.post("/locks", {"session_id": session_id,
                                    "descriptors": list(descriptors), **options})

    def release(self, *names: str, **options: Any):
        return self.post("/release", {"resources": list(names), **options})

    def query(self, type_name: str, **filters: Any) -> list[dict]:
        response = self.post("/query", {"type": type_name, "filters": filters})
        assert response.status_code == 200, response.json
        return response.json["resources"]


def add_user(app, username: str, *, is_admin: bool = False,
             groups: tuple[str, ...] = (), is_active: bool = True) -> str:
    """A user with the given groups (made as needed); returns a plain API token."""
    with app.app_context():
        user = User(username=username, is_admin=is_admin, is_active=is_active)
        for name in groups:
            user.groups.append(db.session.scalar(db.select(Group).filter_by(name=name))
                               or Group(name=name))
        token, plain = ApiToken.issue(user, "tests")
        db.session.add_all([user, token])
        db.session.commit()
        return plain


def api_for(app, username: str, **options: Any) -> Api:
    return Api(app, add_user(app, username, **options))


def descriptor(type_name: str, **properties: Any) -> dict[str, Any]:
    return {"type": type_name, "properties": properties}


@pytest.fixture
def lab(app) -> dict[str, Api]:
    """A small lab and its people.

    dev1 is wired to port1; dev2 stands alone; lic is a shared licence; labdev
    belongs to group lab-a (carol's); resdev is reserved for carol. root is an
    admin in no group.
    """
    from lab_plugin import DeviceData, LicenseData, PortData
    people = {"alice": api_for(app, "alice"), "bob": api_for(app, "bob"),
              "carol": api_for(app, "carol", groups=("lab-a",)),
              "root": api_for(app, "root", is_admin=True)}
    with app.app_context():
        lab_a = db.session.scalar(db.select(Group).filter_by(name="lab-a"))
        db.session.add_all([
            DeviceData(name="dev1", ip_address="10.0.0.1", port=PortData(name="port1",
                                                                        number=1)),
            DeviceData(name="dev2", ip_address="10.0.0.2"),
            LicenseData(name="lic", seats=5),
            DeviceData(name="labdev", group=lab_a),
            DeviceData(name="resdev", reserved="carol"),
        ])
        db.session.commit()
    return people


def case_outcomes(run: dict) -> dict[str, str]:
    """Each case of a run the API answered, by name: its outcome."""
    stack, leaves = list(run["records"]), {}
    while stack:
        node = stack.pop()
        stack.extend(node["children"])
        if node["kind"] == "case":
            leaves[node["name"]] = node["outcome"]
    return leaves
