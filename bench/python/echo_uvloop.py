"""echo.py on uvloop (`pip install uvloop`)."""

import os
import sys

import uvloop

sys.path.insert(0, os.path.dirname(__file__))
import echo  # noqa: E402

if __name__ == "__main__":
    echo.main(run=uvloop.run)
