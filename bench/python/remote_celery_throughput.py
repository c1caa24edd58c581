"""remote-throughput, Celery: n `inc.delay(x)` submitted, then every result awaited."""
import sys
sys.path.insert(0, __import__("os").path.dirname(__file__))
from remote_common import main, celery_workers
from remote_celery_app import inc


def job(n):
    results = [inc.delay(x) for x in range(n)]
    for x, r in enumerate(results):
        assert r.get(timeout=600) == x + 1


main(celery_workers, job, 5)
