"""remote-throughput, RQ: n calls enqueued, then every result awaited (2 workers)."""
import sys
sys.path.insert(0, __import__("os").path.dirname(__file__))
from redis import Redis
from rq import Queue
from remote_common import URL, main, rq_workers
from remote_rq_tasks import inc

q = Queue("bench", connection=Redis.from_url(URL + "/3"))


def job(n):
    jobs = [q.enqueue(inc, x) for x in range(n)]
    for x, j in enumerate(jobs):
        assert j.latest_result(timeout=600).return_value == x + 1


main(rq_workers, job, 3)
