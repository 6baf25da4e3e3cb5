"""Recurring exports: /api/v1/exports/schedules, run by the minute's tick.

  timing.py   rate(...) and 5-field cron expressions in a time zone: parse, next run
  models.py   the API's bodies (an export's fields as POST /exports takes them + when)
  repo.py     the schedule items, their due entries and per-owner count (keys only here)
  service.py  create, list, see, change (pause, resume), delete
  tick.py     app.py's every_minute: each due schedule's export started exactly once
  routes.py   /api/v1/exports/schedules
"""
