"""Exports: any declared resource's records, filtered and with chosen fields, streamed
page by page through a format's writer into S3, as jobs of the job engine.

  models.py   the API's bodies and queries
  sources.py  what an export reads (declarations -> rows and the data dictionary)
  storage.py  the files in S3 (multipart parts, carry-overs, links, removal)
  kind.py     the export job: pages -> writer -> parts -> file + sidecar
  events.py   export.completed / export.failed
  service.py  create, list, see, download, cancel or delete
  routes.py   /api/v1/exports
"""
