"""The package's import structure, read by grimp (the import graph behind import-linter): no module reaches itself
through its imports, whether an import sits at the top, inside a function or under ``TYPE_CHECKING``; and the
modules everything else leans on import nothing of the package, so no circle can start there."""

from __future__ import annotations

from itertools import pairwise

import grimp
import pytest

PACKAGE = "jupyter_token_count"
#: imported from every layer (the request, the counter, the surfaces): they must stay leaves
LEAVES = ("errors", "formatting", "memo", "ratelog")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(PACKAGE)


def _link(graph: grimp.ImportGraph, importer: str, imported: str) -> str:
    details = graph.get_import_details(importer=importer, imported=imported)
    line = f":{details[0]['line_number']}" if details else ""
    return f"{importer}{line} → {imported}"


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every circle of imports within the package, each once, as the list of its import links."""
    seen: set[frozenset[str]] = set()
    cycles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is None:
                continue
            ring = (module, *back)
            if frozenset(ring) in seen:
                continue
            seen.add(frozenset(ring))
            cycles.append([_link(graph, a, b) for a, b in pairwise(ring)])
    return cycles


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    cycles = import_cycles(graph)
    assert not cycles, "import cycles (put the shared piece with its concept, in a module both can import):\n" + (
        "\n".join("  " + ";  ".join(links) for links in cycles)
    )


@pytest.mark.parametrize("leaf", LEAVES)
def test_shared_modules_import_nothing_of_the_package(graph: grimp.ImportGraph, leaf: str) -> None:
    imported = sorted(graph.find_modules_directly_imported_by(f"{PACKAGE}.{leaf}"))
    assert not imported, f"{leaf} imports {', '.join(imported)}"


def test_the_check_finds_a_cycle() -> None:
    """The check itself can fail: a graph with a circle through a function-level import is reported, by place."""
    g = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        g.add_module(name)
    g.add_import(importer="pkg.a", imported="pkg.b", line_number=3, line_contents="from .b import x")
    g.add_import(importer="pkg.b", imported="pkg.c", line_number=5, line_contents="from .c import y")
    g.add_import(importer="pkg.c", imported="pkg.a", line_number=40, line_contents="    from .a import z")
    assert import_cycles(g) == [["pkg.a:3 → pkg.b", "pkg.b:5 → pkg.c", "pkg.c:40 → pkg.a"]]
    g.remove_import(importer="pkg.c", imported="pkg.a")
    assert import_cycles(g) == []
