"""Faults below HTTP: the target's processes (kill, pause, restart) and its network link (loss, partition,
RST, bandwidth, netem) in a network namespace the harness creates. Driven by the orchestrator, which owns
the target; the Locust timeline asks for them through the loopback control channel (control.py)."""
