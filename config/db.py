"""Database plumbing that any app's services may use."""

from contextlib import AbstractContextManager, nullcontext

from django.db import connection, transaction


def savepoint_if_in_transaction() -> AbstractContextManager:
    """A savepoint around a write that may be refused, only when inside a transaction
    (reconcile, tests): the webhook and the deposit run in autocommit, where a refused
    statement needs no rollback and the savepoint's round trips are the cost."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()
