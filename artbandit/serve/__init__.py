"""`artbandit serve`: a Personalizer-compatible HTTP decision service on bandit.service.decision_service.DecisionService.

Modules: app (assembles the application), routes/ (Personalizer's API, one module per concern:
rank, events, configuration, model, logs, status), deps (what the routes share: the service, the
group commit, the answers), dashboard/ (the dashboard's routes and pages), apidocs (/docs,
/openapi.json), gate (versions, key, body limit, metrics timing), committer (group commit, expiry
and checkpoint timer), metrics (Prometheus text), protocol (header timeout and size), runner
(uvicorn), workers (`--workers N`). The request and answer bodies are bandit.service.wire's.
"""
