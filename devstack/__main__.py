"""`make run`: the whole stack locally, in the foreground, until Ctrl-C or SIGTERM."""

import os
import sys

from devstack.stack import main

if __name__ == "__main__":
    code = main()
    # The stack is stopped (servers closed, the poller told to stop); an attempt still in
    # flight on a worker thread (a webhook receiver that is slow to time out, a job's
    # page) must not hold the exit: the interpreter's shutdown joins executor threads.
    # Its message comes back on the next run, as after a Lambda's end.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
