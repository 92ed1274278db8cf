"""The distribution installs beside proxy.py, whose import name is ``proxy``, and both work.

The proxy's source lives in ``proxy/`` but is installed as ``cdp_heap_proxy``
(docs/decisions.md D23). This builds the real wheel, installs it and proxy.py's wheel into
one directory (no dependencies: the test's own environment provides trio and attrs) and
imports everything from there, in a fresh interpreter outside the repository.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHECK = """
import sys
import cdp_heap, cdp_heap.cli
assert "cdp_heap_proxy" not in sys.modules, "the library imported the proxy"
import cdp_heap_proxy, proxy
site = sys.argv[1]
for module in (cdp_heap, cdp_heap_proxy, proxy):
    assert module.__file__.startswith(site), f"{module.__name__} from {module.__file__}"
assert hasattr(cdp_heap_proxy, "serve_proxy") and hasattr(proxy, "main")
print("ok")
"""


def pip(*args: str, cwd: Path) -> None:
    command = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check", *args]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_installs_beside_proxy_py(tmp_path: Path) -> None:
    wheels, site = tmp_path / "wheels", tmp_path / "site"
    pip("wheel", "--no-deps", "-w", str(wheels), str(ROOT), cwd=tmp_path)
    pip("download", "--no-deps", "--only-binary=:all:", "-d", str(wheels), "proxy.py", cwd=tmp_path)
    found = sorted(p.name for p in wheels.glob("*.whl"))
    assert len(found) == 2 and any(n.startswith("proxy.py") for n in found), found
    pip(
        "install", "--no-deps", "--target", str(site), *map(str, wheels.glob("*.whl")), cwd=tmp_path
    )
    assert (site / "cdp_heap_proxy" / "_router.py").is_file()
    assert (site / "proxy" / "__init__.py").is_file()  # proxy.py's own package
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(site)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    cli = subprocess.run(
        [sys.executable, "-m", "cdp_heap", "proxy", "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert cli.returncode == 0 and "--upstream" in cli.stdout, cli.stderr
