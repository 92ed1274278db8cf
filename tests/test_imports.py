"""The arrows between modules that must never exist (docs/architecture.md), held by tests.

Two kinds of check:

- **Static** (``ast``, no import): every module of ``cdp_heap/`` and ``proxy/`` is read and
  its imports resolved. A module may not import another module's underscore names
  (``from ._connection import _Pending``, or ``_capture._save_stream`` through a module),
  nor a private module of another top-level package (``cdp_heap_proxy._security`` from
  ``cdp_heap.cli``), unless it declares itself a friend (syntax below). ``cdp_heap`` may not
  import the proxy (``cdp_heap_proxy``) except in the CLI's ``proxy`` command.
- **In a subprocess** (``sys.modules`` after the import): the sans-IO core and the proxy's
  router load no trio; the analysis loads no network stack; ``cdp-heap --help`` and
  building the CLI's parsers load neither trio nor numpy; ``cdp-heap diff`` loads no
  network stack.

Friend declarations. A line of a module's docstring (there may be several)::

    Friend of: cdp_heap._wire, cdp_heap._protocol

lets that module import the listed modules although they are private to another package,
and import their underscore names. In a package's ``__init__`` docstring the line covers
every module of the package (the proxy declares, once, which parts of ``cdp_heap`` it
builds on). Listing a module that the declaring code does not need is harmless; a friend
that is not listed fails the test with the line to add.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from tests.analysis import builder

ROOT = Path(__file__).resolve().parent.parent
#: Import name -> source directory: the proxy's source lives in ``proxy/`` but installs as
#: ``cdp_heap_proxy`` (docs/decisions.md D23).
PACKAGES = {"cdp_heap": "cdp_heap", "cdp_heap_proxy": "proxy"}
FRIEND_PREFIX = "Friend of:"
#: The only module of cdp_heap that may import the proxy: the command that runs it.
PROXY_COMMAND = "cdp_heap.cli._proxy"


# -- the static rules ----------------------------------------------------------------------


@attrs.frozen
class Module:
    name: str
    path: Path

    @property
    def package(self) -> str:
        """The package relative imports start from."""
        return self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]

    @property
    def top(self) -> str:
        return self.name.split(".")[0]


@attrs.frozen
class Import:
    """One imported module, or one name imported from a module, at ``line``."""

    module: str
    name: str | None
    line: int


def our_modules() -> list[Module]:
    modules = []
    for package, directory in PACKAGES.items():
        for path in sorted((ROOT / directory).rglob("*.py")):
            parts = [package, *path.relative_to(ROOT / directory).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules.append(Module(".".join(parts), path))
    return modules


def source_path(dotted: str) -> Path:
    """Where the module or package ``dotted`` (an import name) lives, without a suffix."""
    top, *rest = dotted.split(".")
    return ROOT.joinpath(PACKAGES.get(top, top), *rest)


def is_module(dotted: str) -> bool:
    """Whether ``dotted`` names a module of ours (a file or a package)."""
    path = source_path(dotted)
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_module(dotted: str) -> bool:
    """A module below a package's surface: any part after the first is underscored."""
    return any(is_private(part) for part in dotted.split(".")[1:])


def imports_of(module: Module) -> Iterator[Import]:
    """Every module and name ``module`` imports, relative imports resolved, including
    underscore attributes read through an imported module (``_capture._save_stream``)."""
    tree = ast.parse(module.path.read_text(), str(module.path))
    bound: dict[str, str] = {}  # local name -> the module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, None, node.lineno)
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    root = alias.name.split(".")[0]
                    bound[root] = root
        elif isinstance(node, ast.ImportFrom):
            source = resolve(module, node.module, node.level)
            if source == "__future__":
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if is_module(submodule):
                    yield Import(submodule, None, node.lineno)
                    bound[alias.asname or alias.name] = submodule
                else:
                    yield Import(source, alias.name, node.lineno)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            target = bound.get(node.value.id)
            if target is not None and is_private(node.attr):
                dotted = f"{target}.{node.attr}"
                if is_module(dotted):
                    yield Import(dotted, None, node.lineno)
                else:
                    yield Import(target, node.attr, node.lineno)


def resolve(module: Module, name: str | None, level: int) -> str:
    if level == 0:
        assert name is not None
        return name
    base = module.package.split(".")
    if level > 1:
        base = base[: -(level - 1)]
    return ".".join([*base, name] if name else base)


def friends_of(module: Module) -> frozenset[str]:
    """The modules ``module`` (or its package's ``__init__``) declares itself a friend of."""
    declared: set[str] = set()
    for path in {module.path, source_path(module.package) / "__init__.py"}:
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        for line in docstring.splitlines():
            if line.strip().startswith(FRIEND_PREFIX):
                listed = line.strip()[len(FRIEND_PREFIX) :].split(",")
                declared.update(name.strip() for name in listed if name.strip())
    return frozenset(declared)


def violations(module: Module) -> list[str]:
    """What ``module`` imports against the rules, one line each."""
    return sorted(set(_violations(module)), key=lambda v: int(v.split(":")[1]))


def _violations(module: Module) -> Iterator[str]:
    friends = friends_of(module)
    where = str(module.path.relative_to(ROOT) if module.path.is_relative_to(ROOT) else module.path)
    for item in imports_of(module):
        if item.module in friends:
            continue
        befriend = f'(or declare "{FRIEND_PREFIX} {item.module}" in its docstring)'
        if item.name is not None and is_private(item.name) and item.module != module.name:
            yield f"{where}:{item.line}: uses {item.module}.{item.name}, a private name {befriend}"
        top = item.module.split(".")[0]
        if top != module.top and private_module(item.module):
            yield f"{where}:{item.line}: imports {item.module}, private to {top} {befriend}"


def test_friend_declarations_are_read() -> None:
    """The checker itself: a declared friend passes, an undeclared one is caught."""
    proxy_router = next(m for m in our_modules() if m.name == "cdp_heap_proxy._router")
    assert "cdp_heap._protocol" in friends_of(proxy_router)
    assert any(i.module == "cdp_heap._protocol" for i in imports_of(proxy_router))
    assert not violations(proxy_router)


def test_the_checker_catches_each_kind(tmp_path: Path) -> None:
    source = textwrap.dedent('''\
        """A module that breaks every rule."""
        from cdp_heap._connection import _Pending
        from cdp_heap_proxy._security import check_token
        from cdp_heap import _capture
        _capture._save_stream
        ''')
    path = tmp_path / "_rule_breaker.py"  # read as if it were cdp_heap/cli/_rule_breaker.py
    path.write_text(source)
    found = violations(Module("cdp_heap.cli._rule_breaker", path))
    assert [v.split(": ", 1)[1].split(",")[0] for v in found] == [
        "uses cdp_heap._connection._Pending",
        "imports cdp_heap_proxy._security",
        "uses cdp_heap._capture._save_stream",
    ]


def test_no_module_uses_another_modules_private_names() -> None:
    found = [v for module in our_modules() for v in violations(module)]
    assert not found, "\n".join(found)


def test_cdp_heap_imports_the_proxy_only_in_the_proxy_command() -> None:
    found = [
        f"{module.path.relative_to(ROOT)}:{item.line}: imports {item.module}"
        for module in our_modules()
        if module.top == "cdp_heap" and module.name != PROXY_COMMAND
        for item in imports_of(module)
        if item.module.split(".")[0] == "cdp_heap_proxy"
    ]
    assert not found, "\n".join(found)


# -- what each entry point loads -----------------------------------------------------------


def loaded_after(code: str) -> set[str]:
    """The modules in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    script = code + "\nimport sys\nprint('\\n'.join(sys.modules))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return set(done.stdout.split())


TRIO = {"trio", "trio_websocket", "wsproto", "h11"}
NETWORK = TRIO | {"cdp_heap._connection", "cdp_heap._discovery", "cdp_heap._capture"}


@pytest.mark.parametrize(
    "modules",
    [
        "cdp_heap._wire",
        "cdp_heap._protocol",
        "cdp_heap._limits",
        "cdp_heap._errors",
        "cdp_heap",
    ],
)
def test_the_sans_io_core_loads_no_trio(modules: str) -> None:
    assert not loaded_after(f"import {modules}") & TRIO


#: The proxy's state machine and what it is made of. ``proxy/__init__`` imports the server
#: (trio), so the check skips it by registering the bare package first.
PROXY_SANS_IO = ("_router", "_actions", "_domains", "_replay", "_ownership", "_policy")


def test_the_proxy_router_loads_no_trio() -> None:
    code = "import sys, types\npackage = types.ModuleType('cdp_heap_proxy')\n"
    code += f"package.__path__ = [{str(ROOT / 'proxy')!r}]\n"
    code += "sys.modules['cdp_heap_proxy'] = package\n"
    code += "".join(f"import cdp_heap_proxy.{name}\n" for name in PROXY_SANS_IO)
    loaded = loaded_after(code)
    assert "cdp_heap_proxy._router" in loaded and "cdp_heap_proxy._server" not in loaded
    assert not loaded & TRIO


def test_the_analysis_loads_no_network_stack() -> None:
    loaded = loaded_after("import cdp_heap.analysis")
    assert "numpy" in loaded  # the check sees what was imported
    assert not loaded & NETWORK


def test_building_the_cli_loads_neither_trio_nor_numpy() -> None:
    loaded = loaded_after("import cdp_heap.cli\ncdp_heap.cli.build_parser()")
    assert "cdp_heap.cli._snapshot" in loaded
    assert not loaded & (TRIO | {"numpy", "cdp_heap_proxy", "cdp_heap._connection"})


def test_help_loads_no_trio() -> None:
    code = "import runpy, sys\nsys.argv = ['cdp-heap', '--help']\ntry:\n"
    code += "    runpy.run_module('cdp_heap', run_name='__main__')\nexcept SystemExit:\n    pass"
    loaded = loaded_after(code)
    assert "cdp_heap.cli" in loaded
    assert not loaded & TRIO


def test_diff_loads_no_network_stack(tmp_path: Path) -> None:
    nodes = [builder.Node("synthetic", "(root)", 1, 0), builder.Node("object", "A", 3, 16)]
    base = builder.write(tmp_path / "a.heapsnapshot", nodes)
    target = builder.write(tmp_path / "b.heapsnapshot", nodes)
    argv = ["diff", str(base), str(target)]
    loaded = loaded_after(f"import cdp_heap.cli\nassert cdp_heap.cli.main({argv!r}) == 0")
    assert "cdp_heap.analysis" in loaded
    assert not loaded & (NETWORK | {"cdp_heap_proxy"})  # not even trio: it runs without


# -- the lazy package ----------------------------------------------------------------------


def test_the_lazy_package_exports_what_it_declares() -> None:
    """``__all__``, the lazy table and the imports type checkers see name the same things,
    from the same modules, and each name is the object its module defines."""
    import importlib

    import cdp_heap

    path = ROOT / "cdp_heap" / "__init__.py"
    tree = ast.parse(path.read_text())
    seen_by_mypy = {
        alias.name: "." + str(node.module)
        for block in tree.body
        if isinstance(block, ast.If)
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    sources = cdp_heap._SOURCES  # the package's own table, read by its own test
    assert seen_by_mypy == sources
    assert sorted(cdp_heap.__all__) == sorted(sources)
    for name, source in sources.items():
        module = importlib.import_module(source, "cdp_heap")
        assert getattr(cdp_heap, name) is getattr(module, name), name
    assert set(cdp_heap.__all__) <= set(dir(cdp_heap))
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        cdp_heap.no_such_name  # type: ignore[attr-defined]  # noqa: B018


def test_submodules_are_attributes_of_the_lazy_package() -> None:
    """``import cdp_heap`` then ``cdp_heap._sampling.STOP_TIMEOUT`` (docs/profiling.md)
    works as it did when the package imported every module up front."""
    loaded = loaded_after("import cdp_heap\nassert cdp_heap._sampling.STOP_TIMEOUT > 0")
    assert "cdp_heap._sampling" in loaded
