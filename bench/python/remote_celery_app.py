"""The Celery app of the remote-* workloads: Redis broker and result backend (the server the
bench started, $BENCH_REDIS_URL), the tasks the workers run."""

import os

from celery import Celery

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
app = Celery("remote_celery_app", broker=URL + "/1", backend=URL + "/2")
app.conf.update(result_expires=600, worker_hijack_root_logger=False, broker_connection_retry_on_startup=True)


@app.task
def inc(x):
    return x + 1


@app.task
def square(x):
    return x * x
