"""echo_remote.py on uvloop (`pip install uvloop`)."""

import os
import sys

import uvloop

sys.path.insert(0, os.path.dirname(__file__))
import echo_remote  # noqa: E402

if __name__ == "__main__":
    echo_remote.main(run=uvloop.run)
