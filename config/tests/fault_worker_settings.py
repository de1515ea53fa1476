"""Settings of a worker process started by a fault test (config/tests/processes.py): the
project's settings, with a task whose worker was killed handed out again after two seconds
instead of an hour, and the Stripe sweeper taking over stuck work after two seconds instead of
a minute. (The production rule that the visibility timeout exceed every hard time
limit does not apply: the solo pool the test uses enforces no time limits.)"""

from config.settings import *  # noqa: F403

CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,  # noqa: F405
    "visibility_timeout": 2,
}
SWEEPER_GRACE_SECONDS = 2
# A worker killed between a message's commit and its publish leaves it pending: the sweeper
# takes it over after two seconds here, not two minutes.
NOTIFICATION_PENDING_GRACE_SECONDS = 2
