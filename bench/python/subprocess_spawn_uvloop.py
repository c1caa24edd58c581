"""subprocess_spawn.py on uvloop (`pip install uvloop`)."""

import os
import sys

import uvloop

sys.path.insert(0, os.path.dirname(__file__))
import subprocess_spawn  # noqa: E402

if __name__ == "__main__":
    subprocess_spawn.main(run=uvloop.run)
