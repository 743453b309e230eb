"""How every report groups a run's tests: as the code is.

A suite that holds test cases of several modules shows a group per module,
and one holding cases of several classes a group per class; flows and
suites stay where they are. Runs keep discovered tests flat (their paths,
which the history matches on, do not change); the grouping is only shown.
The file reports (:mod:`rotest_reports.record`) and the server's run pages
(:mod:`rotest_app.web.views`) group through this one function.
"""
from __future__ import annotations

from typing import Callable, Sequence, TypeVar

Node = TypeVar("Node")

__all__ = ["group_as_code"]


def group_as_code(children: Sequence[Node], classname: Callable[[Node], str | None],
                  make_group: Callable[[str, list[Node]], Node]) -> list[Node]:
    """``children`` with their cases grouped by module, then by class.

    Args:
        classname: a child's ``module.Class`` if it is a test case, else None.
        make_group: a group node named ``name`` holding ``members``.
    """
    return _grouped(list(children), classname, make_group, ("module", "class"))


def _grouped(children: list[Node], classname: Callable[[Node], str | None],
             make_group: Callable[[str, list[Node]], Node],
             levels: tuple[str, ...]) -> list[Node]:
    if not levels:
        return children

    def name_of(child: Node) -> str | None:
        full = classname(child)
        if full is None:
            return None
        module, _, cls = full.rpartition(".")
        return module if levels[0] == "module" else cls

    if len({name_of(child) for child in children} - {None}) < 2:
        return _grouped(children, classname, make_group, levels[1:])
    members: dict[str, list[Node]] = {}
    order: list[Node | str] = []
    for child in children:
        name = name_of(child)
        if name is None:
            order.append(child)
        else:
            if name not in members:
                members[name] = []
                order.append(name)
            members[name].append(child)
    return [make_group(item, _grouped(members[item], classname, make_group, levels[1:]))
            if isinstance(item, str) else item for item in order]
