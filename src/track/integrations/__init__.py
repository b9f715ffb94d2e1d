"""Adapters that let training frameworks log to track (see docs/integrations.md).

One module per framework, each importing its framework when the module itself is imported
(never from ``import track``): ``track.integrations.lightning.TrackLogger``,
``track.integrations.transformers.TrackCallback``, ``track.integrations.accelerate.TrackTracker``
and ``track.integrations.optuna.TrackCallback``.
"""
