"""The inventory's routes of /api/v1: an import file in (all or none) and the
whole inventory, or one type of it, out as an import file. Admins only; thin
doors onto :mod:`rotest_app.engine.importer` and ``exporter``."""
from __future__ import annotations

from typing import Any, Iterator

from flask import Response, current_app, request, stream_with_context

from ..engine import InvalidRequest
from ..engine.descriptors import model_for
from ..engine.exporter import export_chunks
from ..engine.importer import InventoryError, import_stream
from ..engine.policy import check_inventory_rights
from ..models import db
from .auth import current_user
from .views import bp

#: The media type of an import file, both ways.
YAML = "application/yaml"


@bp.post("/inventory")
def import_inventory() -> dict[str, Any]:
    """Create or update the resources of the import file in the body, matched
    by name; ``?changes=true`` lists each resource created or updated."""
    changes = _flag("changes")
    # A lab's inventory outgrows the API's usual body limit.
    request.max_content_length = current_app.config["ROTEST"]["max_inventory_bytes"]
    try:
        result = import_stream(db.engine, request.stream, "the request body",
                               keep_changes=changes, user=current_user())
    except InventoryError as error:
        raise InvalidRequest(str(error)) from None
    answer: dict[str, Any] = {"created": result.created, "updated": result.updated,
                              "unchanged": result.unchanged, "total": result.total}
    if changes:
        answer["changes"] = [{"action": action, "type": type_name, "name": name}
                             for action, type_name, name in result.changes]
    return answer


@bp.get("/inventory")
def export_inventory() -> Response:
    """The resources of ``?type=`` (every resource by default) as an import
    file, streamed a page at a time."""
    check_inventory_rights(current_user(), "export")
    model = model_for(request.args.get("type", "ResourceData"))
    chunks = export_chunks(db.engine, model)
    first = next(chunks, None)  # a database error is a JSON answer, before the file starts
    return Response(stream_with_context(_rest(first, chunks)), mimetype=YAML)


def _rest(first: tuple[str, int, int] | None,
          chunks: Iterator[tuple[str, int, int]]) -> Iterator[str]:
    if first is None:
        yield "[]\n"  # no resources: still a valid import file
        return
    yield first[0]
    for chunk, _written, _total in chunks:
        yield chunk


def _flag(name: str) -> bool:
    value = request.args.get(name, "false")
    if value not in ("true", "false"):
        raise InvalidRequest(f"'{name}' must be true or false", field=name)
    return value == "true"
