"""aio_queue.py on uvloop (`pip install uvloop`; bench/run-all.sh installs it)."""

import os
import sys

import uvloop

sys.path.insert(0, os.path.dirname(__file__))
import aio_queue  # noqa: E402

if __name__ == "__main__":
    aio_queue.main(run=uvloop.run)
