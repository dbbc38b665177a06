"""The core rules: keys, goals, the GUID registry and fulfillment ingestion.

Nothing here knows HTTP, XML or SQL dialects: it takes and returns the plain values of
:mod:`goalkeeper.model` and talks to a :class:`goalkeeper.store.Store`.
"""
