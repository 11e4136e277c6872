"""Tests of bandit.service.config: the policy arguments the service accepts, and what `--select` fixes."""

from __future__ import annotations

import pytest

from bandit.errors import BanditError
from bandit.service.config import policy_kwargs

SELECT = "--cb_explore_adf --select"


def test_select_arguments_give_select_options_and_refuse_what_it_fixes():
    assert policy_kwargs(SELECT, bits=18) == {"exploration": "select", "bits": 18}
    assert policy_kwargs(SELECT + " --gamma_scale 30 --quiet -b 18", bits=18) == {
        "exploration": "select",
        "bits": 18,
        "gamma_scale": 30.0,
    }
    assert policy_kwargs(SELECT + " --ridge", bits=18) == {"exploration": "select", "bits": 18, "ridge": True}
    with pytest.raises(BanditError, match="--ridge and --no_ridge go with vw:select"):
        policy_kwargs("--cb_explore_adf --squarecb --ridge", bits=18)
    for extra, named in [
        ("-q cA", "-q"),
        ("-l 0.5", "-l"),
        ("--power_t 0", "--power_t"),
        ("--epsilon 0.1", "more than one exploration"),
        ("-b 20", "cannot change"),
    ]:
        with pytest.raises(BanditError, match=named) as err:
            policy_kwargs(f"{SELECT} {extra}", bits=18)
        assert "\n" not in str(err.value)
