"""The simulated world: an audience with known tastes (audience), the titles and artwork variants it
is shown (titleset), the stream of impressions and what each person does (environment), the named
scenarios that set it up (scenarios), and the literature's synthetic bandit worlds (benchenvs)."""
