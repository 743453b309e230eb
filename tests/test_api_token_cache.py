"""A lock or release takes its user from the process's cache of tokens read
lately, and checks the token in the engine's first statement instead: a revoked
token or a deactivated account must be refused at once all the same, and a
cached user must be the real one (its rights, its locks)."""
from __future__ import annotations

from api_helpers import descriptor, lab  # noqa: F401
from rotest_app.models import ApiToken, User, db

DEV2 = descriptor("DeviceData", name="dev2")


def _warm(api) -> str:
    """A session, and a lock+release that leaves alice's user in the cache."""
    session = api.open_session()
    granted = api.lock(session, DEV2)
    assert granted.status_code == 200, granted.json
    assert api.release("dev2", session_id=session).status_code == 200
    return session


def test_a_revoked_token_is_refused_at_its_next_lock_and_release(lab, app):
    alice = lab["alice"]
    session = _warm(alice)
    with app.app_context():
        db.session.execute(db.delete(ApiToken).where(
            ApiToken.user_id == db.session.scalar(
                db.select(User.id).filter_by(username="alice"))))
        db.session.commit()
    for response in (alice.lock(session, DEV2), alice.release("dev2", session_id=session)):
        assert response.status_code == 401, response.json
        assert response.json["error"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    # Nothing was granted under the revoked token.
    assert lab["bob"].query("DeviceData", name="dev2")[0]["owner"] == ""


def test_a_deactivated_account_is_refused_at_its_next_lock(lab, app):
    alice = lab["alice"]
    session = _warm(alice)
    with app.app_context():
        db.session.execute(db.update(User).filter_by(username="alice")
                           .values(is_active=False))
        db.session.commit()
    response = alice.lock(session, DEV2)
    assert response.status_code == 401 and response.json["error"] == "unauthorized"


def test_a_cached_user_acts_as_itself(lab):
    """Repeated cycles (the cache's path) keep ownership, the 403 on another
    user's lock and the group rule."""
    alice, bob, carol = lab["alice"], lab["bob"], lab["carol"]
    session = _warm(alice)
    bob_session = _warm(bob)
    for _ in range(3):
        granted = alice.lock(session, DEV2)
        assert granted.status_code == 200
        assert granted.json["resources"][0]["owner"] == "alice"
        refused = bob.release("dev2", session_id=bob_session)
        assert refused.status_code == 403, refused.json
        assert alice.release("dev2", session_id=session).status_code == 200
    # labdev belongs to carol's group: alice (cached) may not take it, carol may.
    assert alice.lock(session, descriptor("DeviceData", name="labdev")).status_code == 404
    carol_session = _warm(carol)
    assert carol.lock(carol_session, descriptor("DeviceData", name="labdev")) \
        .status_code == 200
    assert carol.release("labdev", session_id=carol_session).status_code == 200


def test_a_session_of_another_user_is_refused_on_the_cached_path(lab):
    alice, bob = lab["alice"], lab["bob"]
    session = _warm(alice)
    _warm(bob)
    response = bob.lock(session, DEV2)
    assert response.status_code == 403, response.json
    response = bob.release("dev2", session_id=session)
    assert response.status_code in (403, 409), response.json
