"""remote-roundtrip, Celery: `inc.delay(x).get()` one at a time (prefork 2, Redis broker and
backend)."""
import sys
sys.path.insert(0, __import__("os").path.dirname(__file__))
from remote_common import main, celery_workers
from remote_celery_app import inc


def job(n):
    for x in range(n):
        assert inc.delay(x).get(timeout=60) == x + 1


main(celery_workers, job, 5)
