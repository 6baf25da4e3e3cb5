"""`python -m bench.one NAME OUT [SIZE ...]`: run benchmark bench.NAME alone in this
process (with these sizes, for those that take them) and write its result as JSON to OUT.
`make bench` runs each benchmark so, in a process of its own: the emulator's patches of
moto (devstack.moto_patches) and moto's mocks last as long as the process that applied
them, so sharing one would make figures depend on order."""

from __future__ import annotations

import importlib
import json
import logging
import sys
import warnings
from pathlib import Path


def main(name: str, out: str, sizes: tuple[int, ...]) -> None:
    logging.disable(logging.WARNING)  # the app's and moto's warnings are not figures
    warnings.filterwarnings("ignore", module=r"moto\.")
    module = importlib.import_module(f"bench.{name}")
    result = module.run(sizes) if sizes else module.run()
    Path(out).write_text(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], tuple(int(a) for a in sys.argv[3:]))
