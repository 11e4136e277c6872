"""Online runs: policies driven through a simulated stream as a service would call them (runner),
and what their choices earned against the truth the simulator knows (metrics)."""
