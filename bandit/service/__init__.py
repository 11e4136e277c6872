"""The decision service: Personalizer's Rank/Reward/Activate on a state folder that survives crashes.

Where things live: `decision_service` (DecisionService: rank, reward, activate, learn, commit),
`recovery` (checkpoints, and rebuilding open events from the journal after a restart), `journal`
(every state change, in order), `state_dir` (the lock, configuration and checkpoints), `config`
(Personalizer's service configuration), `checks` (request checks), `wire` (Personalizer's JSON),
`client` (the same API over HTTP), `model_export`, `joined_log` (the derived event log), and
`stream/` (rankers and one learner past one process).
"""
