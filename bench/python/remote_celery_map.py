"""remote-map, Celery: `square.chunks(items, 1000)` over 0..n, every chunk awaited (per item)."""
import sys
sys.path.insert(0, __import__("os").path.dirname(__file__))
from remote_common import main, celery_workers
from remote_celery_app import square


def job(n):
    chunks = square.chunks(((x,) for x in range(n)), 1000).group().apply_async()
    total = sum(sum(c) for c in chunks.get(timeout=600))
    assert total == sum(x * x for x in range(n))


main(celery_workers, job, 1000)
