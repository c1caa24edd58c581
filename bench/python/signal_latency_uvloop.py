"""signal_latency.py on uvloop (`pip install uvloop`)."""

import os
import sys

import uvloop

sys.path.insert(0, os.path.dirname(__file__))
import signal_latency  # noqa: E402

if __name__ == "__main__":
    signal_latency.main(run=uvloop.run)
