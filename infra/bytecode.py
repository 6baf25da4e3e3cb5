"""Bytecode in the deployment package: a cold start imports, it does not compile.

Lambda unpacks the zip into a read-only /var/task, so Python can never cache what it
compiles there: every cold start compiled every module of the app (and of the bundled
libraries without bytecode) from source. `add_bytecode` compiles each .py of the zip into
its __pycache__ with unchecked-hash invalidation (the .pyc is used as it is, whatever the
source's timestamp after unzipping), for the Python version that packages, which must be
the functions' runtime (Chalice takes the runtime from that version; `main` checks it).
"""

from __future__ import annotations

import compileall
import py_compile
import sys
import tempfile
import zipfile
from pathlib import Path


def runtime() -> str:
    """The Lambda runtime name of the Python running this (`python3.11`)."""
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def compile_tree(root: Path) -> None:
    """Every .py below `root` gets its unchecked-hash .pyc beside it, in __pycache__."""
    compileall.compile_dir(str(root), quiet=2, workers=0,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)


def add_bytecode(path: Path) -> int:
    """Rewrites the zip at `path` with a .pyc for each .py; answers how many it added."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            zf.extractall(root)
        compile_tree(root)
        names = {i.filename for i in infos}
        added = 0
        rebuilt = path.with_suffix(".tmp")
        with zipfile.ZipFile(rebuilt, "w", zipfile.ZIP_DEFLATED) as out:
            for info in infos:
                out.writestr(info, b"" if info.is_dir() else (root / info.filename).read_bytes())
            for pyc in sorted(root.rglob("*.pyc")):
                name = pyc.relative_to(root).as_posix()
                if name in names:
                    continue
                entry = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                entry.external_attr = 0o644 << 16
                entry.compress_type = zipfile.ZIP_DEFLATED
                out.writestr(entry, pyc.read_bytes())
                added += 1
        rebuilt.replace(path)
    return added
