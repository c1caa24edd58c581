"""subprocess_pipe.py on uvloop (`pip install uvloop`)."""

import os
import sys

import uvloop

sys.path.insert(0, os.path.dirname(__file__))
import subprocess_pipe  # noqa: E402

if __name__ == "__main__":
    subprocess_pipe.main(run=uvloop.run)
