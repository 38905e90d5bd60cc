"""splittui.runner: real split execution over TCP, checked against the cost model (`splittui run`).

wire.py (framed protocol, no pickle) · link.py (application delay + token-bucket pacing) ·
kernel_link.py (network namespaces + veth + tbf) · server.py · client.py · session.py (the two
spawned processes) · chains.py (same seed, same weights) · planning.py (the planning profile, the
deadline, the policy) · predict.py (the prediction and the composition check) · experiment.py (rows,
tables, the JSON document) · handler.py (`splittui run` for one policy) · experiments.py (--figure,
--fidelity) · toy.py (a tiny test chain). Imports torch; splittui/commands/run.py imports this
package only inside its handler.
"""
