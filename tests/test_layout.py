"""The layout's guard rail: every import of the production code follows the directions of
shared/DESIGN.md ("Layout") and no two modules import each other, however indirectly.

docs/LAYOUT.md explains the layout and the rules for newcomers; this file enforces them. It reads the
source with `ast` (nothing is imported), so it sees every import: module-level, function-local,
under `if TYPE_CHECKING:` or `try:`, and `importlib.import_module("…")` / `__import__("…")` calls with
a literal name. Django's dotted strings ("archive.apps.ArchiveConfig" in INSTALLED_APPS, URL
includes by name, `apps.get_model`) are not imports and are out of scope.

An import is resolved to the most specific project module it names:
`import studio.events` and `from studio import events` → `studio.events`;
`from studio.models import Programme` → `studio.models`; `import studio` → the package `studio`.
Migrations are not read (they may import `core` and their own app freely), nor are tests/, bench/,
minxin_client/, dev.py and manage.py, which production code must never import.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# --- the rules -----------------------------------------------------------------------------------

PACKAGES = ("core", "departments", "studio", "moderation", "archive", "letters", "settings")
TOP_LEVEL_MODULES = ("asgi",)
PRODUCTION = frozenset(PACKAGES + TOP_LEVEL_MODULES)
# Parts of the repository that are not production code: never read here, never imported by it.
NOT_PRODUCTION = frozenset({"tests", "bench", "minxin_client", "dev", "manage"})

APPS = frozenset({"departments", "studio", "moderation", "archive", "letters"})


@dataclass(frozen=True)
class Rule:
    may_import: frozenset[str]
    text: str


# What each top-level package may import besides itself, Django, third-party packages and the standard
# library. Read across a row: "studio may import moderation, departments and core".
RULES: dict[str, Rule] = {
    "core": Rule(
        frozenset(),
        "core is the plumbing every app uses and no domain: it imports no app of the project",
    ),
    "departments": Rule(
        frozenset({"core"}),
        "departments is the shared registry (departments, divisions, time limits, roles): "
        "it imports core only",
    ),
    "letters": Rule(
        frozenset({"departments", "core"}),
        "letters knows nothing of programmes: it imports departments and core only",
    ),
    "studio": Rule(
        frozenset({"moderation", "departments", "core"}),
        "studio and moderation are the live core: studio imports moderation, departments and core only",
    ),
    "moderation": Rule(
        frozenset({"studio", "departments", "core"}),
        "moderation builds on studio's models and event log: it imports studio, departments and core only",
    ),
    "archive": Rule(
        frozenset({"core", "departments", "studio", "moderation", "letters"}),
        "archive reads everything else (core, departments, studio, moderation, letters) but not the "
        "URL/routing tables that import it",
    ),
    "settings": Rule(
        PRODUCTION - {"settings"},
        "settings (with the URL and routing tables) may import any production module",
    ),
    "asgi": Rule(PRODUCTION - {"asgi"}, "asgi.py may import any production module"),
}

ARCHIVE_RULE = (
    "no app imports archive: only the URL and routing tables in settings/ (and asgi.py) do; "
    "an app reaches the archive by a signal (e.g. studio's 'programme ended'), and archive/apps.py "
    "connects the handlers"
)
SETTINGS_RULE = "apps read configuration through django.conf.settings, never the settings package"
NOT_PRODUCTION_RULE = "production code never imports tests/, bench/, minxin_client/, dev.py or manage.py"
CYCLE_RULE = "no import cycle between any two modules (function-local imports count)"
CYCLE_FIX = (
    "move what both need into a third module (often in core/), or have the lower one publish an "
    "event or send a signal that the upper one handles"
)
DIRECTION_FIX = (
    "plumbing several apps use belongs in core/; a piece of one app's API (its OpenAPI part, its "
    "error codes) beside that app's views; a reaction to another app's event goes through a signal"
)


# --- reading the source --------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    module: str  # "studio.events"; a package's __init__.py is the package: "studio"
    path: str  # "studio/events.py", as shown in messages
    text: str
    is_package: bool = False


@dataclass(frozen=True)
class Import:
    importer: str
    path: str
    line: int
    target: str  # the project module it resolves to
    statement: str  # the import as written
    scope: str  # "" at module level, else the enclosing function or class

    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def describe(self) -> str:
        local = f" (inside {self.scope})" if self.scope else ""
        return f"`{self.statement}`{local}"


def top(module: str) -> str:
    return module.split(".", 1)[0]


def module_name(relative: Path) -> tuple[str, bool]:
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def production_files(root: Path = ROOT) -> Iterator[Path]:
    """Every production module, migrations included (callers decide whether to read them)."""
    for name in TOP_LEVEL_MODULES:
        yield root / f"{name}.py"
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" not in path.parts:
                yield path


def is_migration(relative: Path) -> bool:
    return "migrations" in relative.parts


def read_production(root: Path = ROOT) -> tuple[list[Source], set[str]]:
    """The production sources to check, and every project module name (migrations included) that an
    import may resolve to."""
    sources: list[Source] = []
    known: set[str] = set()
    for path in production_files(root):
        relative = path.relative_to(root)
        module, is_package = module_name(relative)
        known.add(module)
        if not is_migration(relative):
            text = path.read_text(encoding="utf-8")
            sources.append(Source(module, relative.as_posix(), text, is_package))
    return sources, known


def _package_of(source: Source) -> str:
    return source.module if source.is_package else source.module.rpartition(".")[0]


def _absolute(source: Source, name: str, level: int) -> str | None:
    """`from ..x import y` in a module → the absolute name of `..x`; None if it climbs out of the tree."""
    if level == 0:
        return name
    base = _package_of(source).split(".") if _package_of(source) else []
    if level - 1 > len(base) or (level - 1 == len(base) and not name):
        return None
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def resolve(dotted: str, known: set[str]) -> str | None:
    """The most specific project module a dotted name names; None for Django, third-party, stdlib."""
    if top(dotted) not in PRODUCTION | NOT_PRODUCTION:
        return None
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return dotted  # a project name we do not read (tests, bench…) or one that does not exist


class _Collector(ast.NodeVisitor):
    def __init__(self, source: Source, known: set[str]) -> None:
        self.source = source
        self.known = known
        self.scopes: list[str] = []
        self.found: list[Import] = []

    def _add(self, node: ast.AST, target: str | None, statement: str) -> None:
        if target is None:
            return
        scope = ".".join(self.scopes)
        line = getattr(node, "lineno", 0)
        self.found.append(Import(self.source.module, self.source.path, line, target, statement, scope))

    def _scoped(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scopes.append(f"{node.name}()" if not isinstance(node, ast.ClassDef) else node.name)
        self.generic_visit(node)
        self.scopes.pop()

    visit_FunctionDef = _scoped
    visit_AsyncFunctionDef = _scoped
    visit_ClassDef = _scoped

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, resolve(alias.name, self.known), ast.unparse(ast.Import([alias])))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _absolute(self.source, node.module or "", node.level)
        if base is None:
            return
        # One Import per module named: `from studio import events, models` is two, `from letters.models
        # import Light, Rating` is one.
        by_target: dict[str, list[ast.alias]] = {}
        for alias in node.names:
            submodule = f"{base}.{alias.name}" if base else alias.name
            target = resolve(submodule if alias.name != "*" and submodule in self.known else base, self.known)
            if target is not None and base:
                by_target.setdefault(target, []).append(alias)
        for target, aliases in by_target.items():
            self._add(node, target, ast.unparse(ast.ImportFrom(node.module, aliases, node.level)))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name in {"import_module", "__import__"} and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                dotted: str | None = first.value
                if first.value.startswith("."):
                    package = next((k.value for k in node.keywords if k.arg == "package"), None)
                    stripped = first.value.lstrip(".")
                    level = len(first.value) - len(stripped)
                    if isinstance(package, ast.Constant) and isinstance(package.value, str):
                        anchor = Source(package.value, self.source.path, "", is_package=True)
                        dotted = _absolute(anchor, stripped, level)
                    else:
                        dotted = _absolute(self.source, stripped, level)
                if dotted:
                    self._add(node, resolve(dotted, self.known), ast.unparse(node))
        self.generic_visit(node)


def collect_imports(sources: Iterable[Source], known: set[str]) -> list[Import]:
    found: list[Import] = []
    for source in sources:
        collector = _Collector(source, known)
        collector.visit(ast.parse(source.text, filename=source.path))
        found.extend(collector.found)
    return found


# --- rule (b): directions ------------------------------------------------------------------------


def direction_violations(imports: Iterable[Import]) -> list[str]:
    """One line per forbidden import: where it is, what it imports, which rule it breaks."""
    out: list[str] = []
    for imp in sorted(imports, key=lambda i: (i.path, i.line, i.target)):
        source, target = top(imp.importer), top(imp.target)
        if source == target:
            continue
        if target in NOT_PRODUCTION:
            rule = NOT_PRODUCTION_RULE
        elif source not in RULES:
            rule = f"{source} has no row in RULES (tests/test_layout.py): give it one, and a line in docs/LAYOUT.md"
        elif target in RULES[source].may_import:
            continue
        elif target == "archive":
            rule = ARCHIVE_RULE
        elif target == "settings" and source in APPS | {"core"}:
            rule = f"{SETTINGS_RULE} ({RULES[source].text})"
        else:
            rule = RULES[source].text
        out.append(f"{imp.where()}: {imp.describe()} → {imp.target}\n    breaks: {rule}")
    return out


# --- rule (a): no cycles -------------------------------------------------------------------------


def import_graph(imports: Iterable[Import]) -> dict[str, dict[str, list[Import]]]:
    """module → imported module → the import statements that make the edge (a module importing
    itself is not an edge)."""
    graph: dict[str, dict[str, list[Import]]] = {}
    for imp in imports:
        graph.setdefault(imp.importer, {})
        graph.setdefault(imp.target, {})
        if imp.importer != imp.target:
            graph[imp.importer].setdefault(imp.target, []).append(imp)
    return graph


def strongly_connected(graph: dict[str, dict[str, list[Import]]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: every group of modules that can each reach the others."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                groups.append(sorted(group))
    return groups


def _shortest_path(graph: dict[str, dict[str, list[Import]]], start: str, goal: str, within: set[str]):
    previous: dict[str, str] = {start: start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [goal]
            while path[-1] != start:
                path.append(previous[path[-1]])
            return path[::-1]
        for succ in sorted(graph[node]):
            if succ in within and succ not in previous:
                previous[succ] = node
                queue.append(succ)
    return None


def find_cycles(graph: dict[str, dict[str, list[Import]]]) -> list[list[str]]:
    """Cycles that together use every edge inside every strongly connected group: for each such edge
    u → v, the shortest way back v → … → u. Each cycle is [m1, m2, …, m1], starting at its least module."""
    cycles: list[list[str]] = []
    seen: set[tuple[str, ...]] = set()
    for group in strongly_connected(graph):
        if len(group) < 2:
            continue
        members = set(group)
        for u in group:
            for v in sorted(graph[u]):
                if v not in members:
                    continue
                back = _shortest_path(graph, v, u, members)
                assert back is not None  # same strongly connected group
                ring = [u, *back[:-1]]
                first = ring.index(min(ring))
                ring = ring[first:] + ring[:first]
                if tuple(ring) not in seen:
                    seen.add(tuple(ring))
                    cycles.append([*ring, ring[0]])
    return sorted(cycles, key=lambda c: (len(c), c))


def describe_cycle(graph: dict[str, dict[str, list[Import]]], cycle: list[str]) -> str:
    """One line per edge, file → file, with the import that makes it."""
    edges = list(pairwise(cycle))
    path = {a: graph[a][b][0].path for a, b in edges}
    lines = []
    for a, b in edges:
        first, *others = graph[a][b]
        also = f" (also line {', '.join(str(i.line) for i in others)})" if others else ""
        lines.append(f"    {first.where()} → {path[b]}: {first.describe()}{also}")
    return "\n".join(lines)


def cycle_violations(imports: Iterable[Import]) -> list[str]:
    graph = import_graph(imports)
    cycles = [
        f"cycle {' → '.join(cycle)}\n{describe_cycle(graph, cycle)}\n    breaks: {CYCLE_RULE}"
        for cycle in find_cycles(graph)
    ]
    return cycles


def _report(title: str, violations: list[str], fix: str) -> str:
    header = f"{title}: {len(violations)} (docs/LAYOUT.md says where things belong)"
    return header + "\n\n" + "\n\n".join(violations) + f"\n\nHow to fix: {fix}."


# --- the rules, on the repository ----------------------------------------------------------------


@pytest.fixture(scope="module")
def production_imports() -> list[Import]:
    sources, known = read_production()
    return collect_imports(sources, known)


def test_no_two_production_modules_import_each_other_even_indirectly(production_imports):
    violations = cycle_violations(production_imports)
    if violations:
        pytest.fail(_report("Import cycles between production modules", violations, CYCLE_FIX), pytrace=False)


def test_every_production_import_points_the_way_design_md_allows(production_imports):
    violations = direction_violations(production_imports)
    if violations:
        pytest.fail(
            _report("Imports against the directions of DESIGN.md", violations, DIRECTION_FIX), pytrace=False
        )


def test_every_top_level_package_of_the_repository_has_a_rule():
    """A new top-level package must get a row in RULES (and a line in docs/LAYOUT.md), or be listed as
    not production; otherwise this guard would not read it."""
    found = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    found |= {p.stem for p in ROOT.glob("*.py")}
    assert sorted(found - PRODUCTION - NOT_PRODUCTION) == []
    assert set(RULES) == PRODUCTION


def test_the_guard_reads_every_production_package_and_skips_migrations_and_tests():
    sources, known = read_production()
    read = {s.module for s in sources}
    assert {top(m) for m in read} == PRODUCTION
    assert not any(".migrations" in m for m in read)
    assert any(".migrations." in m for m in known)  # resolvable, though not read
    assert not any(top(m) in NOT_PRODUCTION for m in read)
    assert len(read) > 50


# --- the checker, on synthetic trees: it catches what it claims ----------------------------------


def _tree(**modules: str) -> list[Import]:
    """Modules given as keyword arguments, dots written as "__": studio__events="…" is studio/events.py;
    a name ending in "__init" is a package."""
    sources = []
    for key, text in modules.items():
        name = key.replace("__", ".")
        is_package = name.endswith(".init")
        module = name.removesuffix(".init")
        path = module.replace(".", "/") + ("/__init__.py" if is_package else ".py")
        sources.append(Source(module, path, text, is_package))
    known = {s.module for s in sources}
    known |= {".".join(s.module.split(".")[:i]) for s in sources for i in range(1, s.module.count(".") + 1)}
    return collect_imports(sources, known)


def test_the_checker_resolves_each_form_of_import_to_the_module_it_names():
    imports = _tree(
        studio__init="",
        studio__models="",
        studio__events="",
        moderation__services=(
            "import os\n"
            "from django.db import models\n"
            "from studio import events\n"
            "from studio.models import Programme, Guest\n"
            "import studio\n"
            "import studio.events as ev\n"
            "from . import nothing_here\n"
            "from .intake import ask\n"
            "from studio import events, models, VERSION\n"
        ),
        moderation__intake="",
        moderation__init="",
    )
    got = [(i.line, i.target) for i in imports]
    assert got == [
        (3, "studio.events"),
        (4, "studio.models"),
        (5, "studio"),
        (6, "studio.events"),
        (7, "moderation"),
        (8, "moderation.intake"),
        (9, "studio.events"),
        (9, "studio.models"),
        (9, "studio"),
    ]
    assert [i.statement for i in imports if i.line in (4, 9)] == [
        "from studio.models import Programme, Guest",
        "from studio import events",
        "from studio import models",
        "from studio import VERSION",
    ]


def test_the_checker_counts_function_local_imports_and_import_module_calls():
    imports = _tree(
        letters__services=(
            "import importlib\n"
            "def reply():\n"
            "    from studio.sanitize import clean\n"
            "    return clean\n"
            "class Letter:\n"
            "    def kind(self):\n"
            "        return importlib.import_module('moderation.screening')\n"
        ),
        studio__sanitize="",
        moderation__screening="",
    )
    violations = direction_violations(imports)
    assert len(violations) == 2
    assert violations[0].startswith(
        "letters/services.py:3: `from studio.sanitize import clean` (inside reply()) → studio.sanitize"
    )
    assert "letters knows nothing of programmes" in violations[0]
    assert violations[1].startswith("letters/services.py:7: `importlib.import_module('moderation.screening')")
    assert "(inside Letter.kind())" in violations[1]


def test_the_checker_names_file_line_import_and_rule_of_a_forbidden_direction():
    imports = _tree(
        departments__http="from core.privacy import mask\nfrom studio.sanitize import clean\n",
        core__privacy="",
        core__log="import settings.env\n",
        studio__sanitize="",
        settings__env="",
        moderation__services="def end():\n    from archive import bridge\n",
        archive__bridge="from letters.models import Letter\nfrom moderation import services\n",
        letters__models="",
        settings__urls="from archive import views\n",
        archive__views="",
        bench__harness="",
        studio__views="import bench.harness\n",
    )
    violations = direction_violations(imports)
    assert len(violations) == 4, violations
    assert violations[0] == (
        "core/log.py:1: `import settings.env` → settings.env\n"
        f"    breaks: {SETTINGS_RULE} ({RULES['core'].text})"
    )
    assert violations[1] == (
        "departments/http.py:2: `from studio.sanitize import clean` → studio.sanitize\n"
        f"    breaks: {RULES['departments'].text}"
    )
    assert violations[2] == (
        "moderation/services.py:2: `from archive import bridge` (inside end()) → archive.bridge\n"
        f"    breaks: {ARCHIVE_RULE}"
    )
    assert violations[3].startswith("studio/views.py:1: `import bench.harness`")
    assert NOT_PRODUCTION_RULE in violations[3]


def test_the_checker_allows_studio_and_moderation_both_ways_but_finds_the_module_cycle():
    imports = _tree(
        studio__services="from moderation import services\n",
        studio__models="",
        moderation__services="def ask():\n    from studio.services import publish\n",
        moderation__intake="from studio.models import Programme\n",
    )
    assert direction_violations(imports) == []
    violations = cycle_violations(imports)
    assert violations == [
        "cycle moderation.services → studio.services → moderation.services\n"
        "    moderation/services.py:2 → studio/services.py: `from studio.services import publish` "
        "(inside ask())\n"
        "    studio/services.py:1 → moderation/services.py: `from moderation import services`\n"
        f"    breaks: {CYCLE_RULE}"
    ]


def test_the_checker_finds_every_cycle_of_a_tangle_and_none_in_a_clean_tree():
    tangle = _tree(
        letters__a="import letters.b\n",
        letters__b="import letters.c\nimport letters.a\n",
        letters__c="def f():\n    import letters.a\n",
        letters__d="import letters.a\n",  # reaches the tangle but is not in it
    )
    graph = import_graph(tangle)
    assert sorted(strongly_connected(graph)) == [["letters.a", "letters.b", "letters.c"], ["letters.d"]]
    assert find_cycles(graph) == [
        ["letters.a", "letters.b", "letters.a"],
        ["letters.a", "letters.b", "letters.c", "letters.a"],
    ]
    clean = _tree(
        core__http="import json\n",
        departments__models="from core import http\n",
        letters__models="from departments.models import Department\nfrom core.http import ok\n",
        archive__bridge="from letters import models\nfrom studio import events\n",
        studio__events="from moderation.models import Question\n",
        moderation__models="from studio.models import Programme\n",
        studio__models="",
        settings__urls="from archive import bridge\n",
        asgi="import settings.urls\n",
    )
    assert cycle_violations(clean) == []
    assert direction_violations(clean) == []


def test_the_checker_ignores_a_module_importing_itself_and_imports_outside_the_project():
    imports = _tree(
        studio__init="from studio import VERSION\n",
        studio__hub="import asyncio\nimport channels.layers\nfrom django.conf import settings\n",
    )
    assert [(i.importer, i.target) for i in imports] == [("studio", "studio")]
    assert cycle_violations(imports) == []


MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 600


def test_no_production_function_is_over_80_lines_and_no_module_over_600():
    """Issue #14: short functions and modules a newcomer can read whole. A longer one needs a
    comment on its first line saying why (`# long: …`), which this test accepts."""
    too_long = []
    for package in ("core", "departments", "studio", "moderation", "archive", "letters", "settings"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            source = path.read_text(encoding="utf-8")
            lines = source.splitlines()
            if len(lines) > MAX_MODULE_LINES and "# long:" not in lines[0]:
                too_long.append(f"{path.relative_to(ROOT)}: {len(lines)} lines")
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    first = lines[node.lineno - 1]
                    if length > MAX_FUNCTION_LINES and "# long:" not in first:
                        too_long.append(
                            f"{path.relative_to(ROOT)}:{node.lineno} {node.name}(): {length} lines"
                        )
    assert too_long == [], "\n".join(too_long)
