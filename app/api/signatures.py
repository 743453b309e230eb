"""Error signature routes of /api/v1: the patterns a run matches failures
against (GET), a new one recorded by a run (POST), and hits on known ones."""
from __future__ import annotations

from typing import Any

from ..engine import InvalidRequest, NotFound
from ..models.signatures import (all_signatures, count_hit, pattern_problem,
                                 record_signature)
from .contract import read_body
from .views import _db, bp


@bp.get("/signatures")
def list_signatures() -> dict[str, list[dict[str, Any]]]:
    """Every known error signature."""
    signatures = all_signatures(_db())
    _db().commit()  # no transaction left open between requests
    return {"signatures": signatures}


@bp.post("/signatures")
def add_signature() -> tuple[dict[str, Any], int]:
    """Record a new signature (201); one with the same pattern gets a hit (200)."""
    body = read_body("SignatureBody")
    pattern, name, link = body["pattern"], body.get("name", ""), body.get("link", "")
    problem = pattern_problem(pattern)
    if problem:
        raise InvalidRequest(problem, field="pattern")
    if "\x00" in pattern + name + link:
        raise InvalidRequest("text may not contain NUL characters (\\u0000)")
    signature, created = record_signature(_db(), name=name, pattern=pattern, link=link)
    return signature, 201 if created else 200


@bp.post("/signatures/<id:signature_id>/hits")
def signature_hit(signature_id: int) -> dict[str, Any]:
    """Count one more failure that matched the signature."""
    signature = count_hit(_db(), signature_id)
    if signature is None:
        raise NotFound(f"no error signature with id {signature_id}",
                       signature_id=signature_id)
    return signature
