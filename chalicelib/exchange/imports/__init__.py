"""Imports: a CSV or JSON-array file into a declared resource, row by row through the
resource's own create model and service (so every record raises its events), as jobs
of the job engine.

  storage.py    the files in S3 (the source, uploads, error parts, the error file)
  rows.py       the resource as the readers and validation see it: columns, the create
                model's checks, the natural key
  kind.py       the import job: scan (file checks, total, duplicates), then chunks
  events.py     import.completed
  templates.py  a header and an example row per entity (CSV, XLSX)
  service.py    create (from a body or an upload), uploads, see, errors, cancel
  routes.py     /api/v1/imports
"""
