"""Shared by the remote-* scripts: start the peer's workers (2, on the bench's Redis), warm
them up, time the job, stop the workers, print `ns_per_op=<float>`."""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")


def start(cmd):
    return subprocess.Popen(cmd, cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def celery_workers():
    return [start([sys.executable, "-m", "celery", "-A", "remote_celery_app", "worker",
                   "--concurrency=2", "--pool=prefork", "--loglevel=WARNING",
                   "--without-gossip", "--without-mingle", "--without-heartbeat"])]


def rq_workers():
    code = ("from redis import Redis; from rq import Worker; "
            f"Worker(['bench'], connection=Redis.from_url('{URL}/3')).work()")
    return [start([sys.executable, "-c", code]) for _ in range(2)]


def main(workers, job, warm):
    n = int(sys.argv[1])
    procs = workers()
    try:
        job(max(n // 50, warm))  # warm-up: the workers are up and serving
        t = time.perf_counter_ns()
        job(n)
        elapsed = time.perf_counter_ns() - t
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
    print(f"ns_per_op={elapsed / n:.1f}")
