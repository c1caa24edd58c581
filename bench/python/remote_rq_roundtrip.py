"""remote-roundtrip, RQ: enqueue one call and wait for its result, one at a time (2 workers)."""
import sys
sys.path.insert(0, __import__("os").path.dirname(__file__))
from redis import Redis
from rq import Queue
from remote_common import URL, main, rq_workers
from remote_rq_tasks import inc

q = Queue("bench", connection=Redis.from_url(URL + "/3"))


def job(n):
    for x in range(n):
        r = q.enqueue(inc, x).latest_result(timeout=60)
        assert r.return_value == x + 1


main(rq_workers, job, 3)
