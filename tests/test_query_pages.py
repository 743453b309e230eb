"""POST /api/v1/query a page at a time: every row once, nothing cut without
``more`` saying so, and pages that tell nothing of what a user may not see."""
from __future__ import annotations

from sqlalchemy import insert, select

from api_helpers import Api, add_user
from rotest_app.models import Group, ResourceData, db
from lab_plugin import DeviceData, PortData


def add_devices(app, names: list[str], group: str | None = None,
                port: str | None = None) -> None:
    """Rows straight into the tables, in this order (ids ascending)."""
    with app.app_context():
        group_id = port_id = None
        if group is not None:
            group_id = db.session.scalar(select(Group.id).filter_by(name=group))
            if group_id is None:
                db.session.add(Group(name=group))
                db.session.flush()
                group_id = db.session.scalar(select(Group.id).filter_by(name=group))
        if port is not None:
            port_id = db.session.scalar(select(ResourceData.id).filter_by(name=port))
        db.session.execute(insert(DeviceData), [
            {"name": name, "group_id": group_id, "port_id": port_id} for name in names])
        db.session.commit()


def pages(api: Api, page_size: int | None = None, **filters) -> list[dict]:
    """Every page of the answer, as the API gives them."""
    answers, cursor = [], None
    while True:
        body = {"type": "DeviceData", "filters": filters}
        if page_size is not None:
            body["page_size"] = page_size
        if cursor is not None:
            body["cursor"] = cursor
        response = api.post("/query", body)
        assert response.status_code == 200, response.json
        answers.append(response.json)
        if not response.json["more"]:
            assert response.json["next_cursor"] is None
            return answers
        cursor = response.json["next_cursor"]
        assert len(answers) < 100


def test_pages_hold_every_resource_once_in_order(app):
    names = [f"dev{i:04d}" for i in range(1205)]
    add_devices(app, names)
    admin = Api(app, add_user(app, "root", is_admin=True))
    answers = pages(admin, page_size=100)
    assert [len(a["resources"]) for a in answers] == [100] * 12 + [5]
    assert [r["name"] for a in answers for r in a["resources"]] == names
    # The default page, then the cap.
    first = admin.post("/query", {"type": "DeviceData"}).json
    assert len(first["resources"]) == 500 and first["more"] is True
    assert [r["name"] for a in pages(admin, page_size=1000) for r in a["resources"]] == names
    # A filter pages the same way.
    matching = pages(admin, page_size=7, name__startswith="dev11")
    assert [r["name"] for a in matching for r in a["resources"]] == names[1100:1200]
    # The engine's query, as the embedded client's callers had it, reads every
    # page (it stopped at 10,000 without a word).
    from sqlalchemy.orm import Session

    from rotest_app import engine
    from rotest_app.models import User
    assert len(names) > engine.MAX_PAGE
    with app.app_context(), Session(db.engine) as session:
        user = session.scalar(select(User).filter_by(username="root"))
        assert [r["name"] for r in engine.query(session, user, "DeviceData")] == names


def test_pages_tell_nothing_of_hidden_resources(app):
    """alice is in no group: the secret rows, and a device made of a secret
    port, are not in her pages, and ``more`` is false once only they remain:
    her answers are those of a lab without them."""
    add_devices(app, ["pub0", "pub1", "pub2", "pub3"])
    add_devices(app, [f"sec{i}" for i in range(10)], group="secret")
    with app.app_context():
        db.session.add(PortData(name="secret-port",
                                group=db.session.scalar(select(Group).filter_by(
                                    name="secret"))))
        db.session.commit()
    add_devices(app, ["made-of-secret"], port="secret-port")
    add_devices(app, ["pub4", "pub5"])
    add_devices(app, [f"late-sec{i}" for i in range(5)], group="secret")
    alice = Api(app, add_user(app, "alice"))
    answers = pages(alice, page_size=3)
    assert [[r["name"] for r in a["resources"]] for a in answers] == \
        [["pub0", "pub1", "pub2"], ["pub3", "pub4", "pub5"]]
    assert answers[-1]["more"] is False
    # The last page answers as it would if the hidden rows did not exist.
    last = alice.post("/query", {"type": "DeviceData", "page_size": 3,
                                 "cursor": answers[0]["next_cursor"]}).json
    assert last == answers[1]
    carol = Api(app, add_user(app, "carol", groups=("secret",)))
    assert len([r for a in pages(carol, page_size=4) for r in a["resources"]]) == 22


BAD_PAGES = [({"cursor": "abc"}, "cursor"), ({"cursor": "-1"}, "cursor"),
             ({"cursor": "99999999999999999999"}, "cursor"), ({"cursor": 5}, "cursor"),
             ({"cursor": "١٢"}, "cursor"),  # digits, but not 0-9
             ({"page_size": 0}, "page_size"), ({"page_size": 1001}, "page_size"),
             ({"page_size": "10"}, "page_size")]


def test_bad_cursor_or_page_size_is_a_clear_400(app):
    add_devices(app, ["a"])
    admin = Api(app, add_user(app, "root", is_admin=True))
    for body, field in BAD_PAGES:
        response = admin.post("/query", {"type": "DeviceData", **body})
        assert response.status_code == 400, body
        assert response.json["details"]["field"] == field
        assert field in response.json["message"]
    # A cursor past every id a row can have: an empty last page, not a failed bind.
    page = admin.post("/query", {"type": "DeviceData", "cursor": "9" * 19}).json
    assert page == {"resources": [], "more": False, "next_cursor": None}


def test_update_fields_refuses_more_than_it_may_set(app, monkeypatch):
    """Setting the first N and not the rest would be a silent cut."""
    from rotest_app.engine import inventory
    monkeypatch.setattr(inventory, "MAX_RESULTS", 3)
    add_devices(app, ["a", "b", "c", "d"])
    admin = Api(app, add_user(app, "root", is_admin=True))
    body = {"type": "DeviceData", "values": {"mode": "x"}}
    refused = admin.post("/update_fields", body)
    assert refused.status_code == 400 and "narrow the filters" in refused.json["message"]
    assert {r["mode"] for a in pages(admin) for r in a["resources"]} == {"normal"}
    narrowed = admin.post("/update_fields", {**body, "filters": {"name__in": ["a", "b"]}})
    assert narrowed.status_code == 200 and len(narrowed.json["resources"]) == 2
