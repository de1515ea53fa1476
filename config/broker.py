"""
Publishing a task from a web request without depending on the broker.

`enqueue` is for work that something else picks up anyway when it is lost (the Stripe drain:
the Stripe sweeper; customer messages: the notification sweeper): a broker that is down, or
was a moment ago, costs the request no error and at most one short publish attempt
(CELERY_TASK_PUBLISH_RETRY_POLICY, the broker's socket timeouts); the task is logged as not
enqueued and the sweepers, on beat every minute, enqueue the work once the broker is back.
"""

import logging

import redis
from kombu.exceptions import OperationalError

from config.cache import Breaker

logger = logging.getLogger(__name__)

# What a publish raises when the broker cannot take it (kombu wraps the transport's errors in
# OperationalError once its retries are spent).
BROKER_ERRORS = (OperationalError, redis.RedisError, OSError)


def _publish(task, args: tuple, options: dict) -> None:
    if options:
        task.apply_async(args, **options)
    else:
        task.delay(*args)


def enqueue(task, *args, **options) -> bool:
    """task.delay(*args), or task.apply_async(args, **options) with options; False (logged, not
    raised) when the broker did not take it. Tasks run in place (eager) are called as usual:
    their errors are theirs."""
    app = task.app
    if app.conf.task_always_eager:
        _publish(task, args, options)
        return True
    breaker = Breaker.for_("broker", app.conf.broker_write_url or app.conf.broker_url)
    if not breaker.allows():
        logger.warning("%s not enqueued (broker unreachable); a sweeper will", task.name)
        return False
    try:
        _publish(task, args, options)
    except BROKER_ERRORS as exc:
        breaker.failed(exc)
        logger.warning("%s not enqueued (broker unreachable); a sweeper will", task.name)
        return False
    breaker.succeeded()
    return True
