"""The event log: one propensity-logged SQLite row per decision (`eventlog`, its `schema`, its
`writers`), and its exports (`export`: DSJSON, CSV, JSON lines, Parquet).
"""
