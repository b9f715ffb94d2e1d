"""The Optuna callback, on a real 10-trial study with a pruner: one track trial per Optuna trial."""

from __future__ import annotations

from pathlib import Path

from optional import require

optuna = require("optuna")

from track.integrations.optuna import TrackCallback  # noqa: E402
from track.persistence import get_protocol  # noqa: E402


def objective(trial: optuna.Trial) -> float:
    """A quadratic reported over 5 steps; trial 3 fails (caught), others may be pruned."""
    x = trial.suggest_float("x", -4.0, 4.0)
    if trial.number == 3:
        raise ValueError("bad draw")
    for step in range(5):
        trial.report(x * x + 5 - step, step)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return x * x


def test_study_records_each_trial_with_state_and_intermediate_values(tmp_path: Path) -> None:
    """10 Optuna trials give 10 track trials in the study's group, states and series matching."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    uri = f"sqlite:///{tmp_path / 'store.db'}"
    study = optuna.create_study(
        study_name="quadratic",
        sampler=optuna.samplers.RandomSampler(seed=1),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    )
    callback = TrackCallback(uri=uri, project="hpo")
    study.optimize(objective, n_trials=10, callbacks=[callback], catch=(ValueError,))
    callback.close()

    protocol = get_protocol(uri)
    try:
        stored = {t.metadata["optuna_trial_number"]: t for t in protocol.fetch_trials({})}
    finally:
        protocol.close()
    assert sorted(stored) == list(range(10))
    assert len({group for t in stored.values() for group in t.groups}) == 1
    expected = {"COMPLETE": "Completed", "PRUNED": "Pruned", "FAIL": "Exception"}
    states = {frozen.state.name for frozen in study.trials}
    assert {"COMPLETE", "PRUNED", "FAIL"} <= states
    for frozen in study.trials:
        trial = stored[frozen.number]
        assert trial.status.name == expected[frozen.state.name]
        assert trial.parameters == frozen.params
        points = trial.metrics.get("value", [])
        intermediate = sorted(frozen.intermediate_values.items())
        assert [(p[0], p[1]) for p in points[: len(intermediate)]] == intermediate
        if frozen.value is not None:
            assert points[-1][1] == frozen.value
