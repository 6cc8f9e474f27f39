"""khabar's web side, beyond the JSON API in khabar/service.py: the analyst's pages, offline
API docs, metrics, the access log and the login that the token check needs in a browser.

Each module has one job (see its docstring); service.py wires them in. Importing this package
imports nothing heavy: the nightly report uses `calendars` and `timeline` from here without
pulling in FastAPI or Jinja.
"""
