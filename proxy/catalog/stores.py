"""Each login's catalog store, built once, on its first catalog statement."""
from __future__ import annotations

import threading

from proxy.backends.base import Backend
from proxy.catalog.store import CatalogStore, build_store
from proxy.catalog.visible import visible_key, visible_schema
from proxy.rewrite.context import RewriteContext


class CatalogStores:
    """Keyed by (role, login): the store names the login (pg_roles, owners), and
    building one takes a fraction of a second, so a store per login is cheap."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._stores: dict[tuple[str, str], CatalogStore] = {}
        self._lock = threading.Lock()  # sessions ask from worker threads; build each store once

    def get(self, ctx: RewriteContext) -> CatalogStore:
        key = (ctx.role.name, ctx.user)
        with self._lock:
            store = self._stores.get(key)
            if store is None:
                store = self._stores[key] = self._build(ctx)
            return store

    def _build(self, ctx: RewriteContext) -> CatalogStore:
        declared = self._backend.primary_keys()
        cursor = self._backend.cursor()
        try:
            tables = visible_schema(ctx, cursor, declared)
        finally:
            cursor.close()
        keys = {t: visible_key(ctx, t, declared[t]) for t in tables if t in declared}
        return build_store(tables, {t: k for t, k in keys.items() if k}, database=ctx.database, user=ctx.user)

    def close(self) -> None:
        with self._lock:
            for store in self._stores.values():
                store.close()
            self._stores.clear()
