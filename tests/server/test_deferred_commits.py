"""The server defers its store's commits (``Protocol.defer_commits``) and commits per group.

A ``file://`` store on its own makes each batch durable by appending it to its journal; served,
it keeps writes in memory and the worker's commit after each group of writes rewrites the JSON
document. So as soon as a client is acknowledged, ``json.load`` of the document shows its
write, even while the server runs, also when the file store is wrapped in another store.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from trackserver import running_server

from track.persistence import get_protocol
from track.persistence.protocol import TrialBatch
from track.structure import Trial

#: Runs ``python -m track.cli serve ...`` (its arguments) after registering ``wrapped://``, a
#: forwarding store (no forwarders) around a file store: a store that is not a FileProtocol
#: but must still defer the file store's commits.
SERVE_WRAPPED = """
import sys
from track.cli import main
from track.forward import ForwardingProtocol
from track.persistence import register
from track.persistence.local import FileProtocol

register("wrapped", lambda uri: ForwardingProtocol(FileProtocol(uri), []))
sys.exit(main(sys.argv[sys.argv.index("track.cli") + 1 :]))
"""


@pytest.mark.parametrize("scheme", ["file", "wrapped"])
def test_an_acknowledged_write_is_in_the_served_files_document(tmp_path: Path, scheme: str) -> None:
    """While the server runs, the document itself (not only the journal) has the batch."""
    document = tmp_path / "store.json"
    prefix: tuple[str, ...] = ()
    if scheme == "wrapped":
        script = tmp_path / "serve_wrapped.py"
        script.write_text(SERVE_WRAPPED)
        prefix = (sys.executable, str(script))  # the helper appends `python -m track.cli ...`
    with running_server(tmp_path, f"{scheme}://{document}", layer=None, prefix=prefix) as server:
        client = get_protocol(server.uri())
        trial = Trial(name="served", parameters={"a": 1})
        client.new_trial(trial)
        client.log_trial_batch(trial, TrialBatch(metrics=[("loss", 0, 0.5, 1.0)]))
        stored = json.loads(document.read_text())["trials"][trial.uid]
        assert stored["metrics"] == {"loss": [[0, 0.5, 1.0]]}
        client.close()
        assert server.stop() == 0
