"""`make run`: the whole stack locally, in the foreground, until Ctrl-C or SIGTERM."""

import sys

from devstack.stack import main

if __name__ == "__main__":
    sys.exit(main())
