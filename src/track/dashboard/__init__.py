"""The web dashboard (``track ui``): a Starlette app with a JSON API and a page drawing plotly charts.

Importing this package imports nothing optional; :mod:`track.dashboard.app` needs the
``[ui]`` extra (starlette, uvicorn, plotly).
"""
