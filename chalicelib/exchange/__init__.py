"""Data exchange: export writers (`formats/`) and import readers (`parsing`).

Both are plain Python the job engine drives: rows in, bytes out (exports); bytes in,
rows out (imports). Neither touches DynamoDB or S3, and both are resumable from a small
JSON-serialisable state so that one job may span many Lambda invocations.
"""
