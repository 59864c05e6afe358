"""Fetching an Airflow connection from a coroutine, on every Airflow minor the provider supports."""

from __future__ import annotations

from typing import Any


async def afetch_connection(hook: Any, conn_id: str) -> Any:
    """``hook.aget_connection(conn_id)``, or ``get_connection`` in a worker thread where it is missing.

    ``BaseHook.aget_connection`` came with Airflow 3.1. Without it, the synchronous lookup must not run
    on the event loop; asgiref's ``sync_to_async`` rather than a plain thread, because the Task SDK's
    synchronous lookup reaches the supervisor through ``async_to_sync``, which finds its way back to
    the loop only from a thread asgiref started.
    """
    aget = getattr(hook, "aget_connection", None)
    if aget is not None:
        return await aget(conn_id)
    from asgiref.sync import sync_to_async

    return await sync_to_async(hook.get_connection)(conn_id)
