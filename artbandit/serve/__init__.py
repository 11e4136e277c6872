"""`artbandit serve`: a Personalizer-compatible HTTP decision service on bandit.service.decision_service.DecisionService.

Modules: app (routes), gate (versions, key, body limit, metrics timing), wire (request bodies),
committer (group commit, expiry and checkpoint timer), metrics (Prometheus text), runner (uvicorn).
"""
