"""Policies: how a decision is scored and learned. `personalizer` is the default (VW models chosen
online), `vw` a single Vowpal Wabbit model, `baselines` the non-VW peers; `specs` names them all
(`make_policy`), `model_io` saves them, `drift`/`drift_hook` watch their rewards, `warmstart` trains
one from a log. The event lifecycle they share is in bandit.lifecycle.
"""
