"""splittui.runner: real split execution over TCP, checked against the cost model (`splittui run`).

wire.py (framed protocol, no pickle) · link.py (delay + token-bucket pacing) · server.py · client.py ·
session.py (the two spawned processes) · chains.py (same seed, same weights) · predict.py (measured,
cached profile and the prediction) · experiment.py (rows and tables) · command.py / figure.py (the
`splittui run` handler, --figure, --fidelity) · toy.py (a tiny test chain). Imports torch; the
command module in splittui/commands/run.py imports this package only inside its handler.
"""
