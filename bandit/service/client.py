"""ServiceClient: Personalizer's rank/reward shape, over HTTP to `artbandit serve` (or Personalizer).

Why the same shape as bandit.Personalizer: code written against the library (simulations, the demo)
can drive a running service unchanged: `rank(context, actions)` returns a `Decision` with the pmf in
the order of the given actions, `reward(event_id, value)` closes the loop. Errors the service
reports come back as the library's own exceptions (unknown event, duplicate reward, bad input).
The bodies are bandit.service.wire's, the same module the service parses them with.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import httpx

from bandit.errors import BanditError, DuplicateRewardError, ExpiredEventError, UnknownEventError
from bandit.lifecycle.book import Decision
from bandit.service import wire


class ServiceClient:
    """A keep-alive HTTP client for one service (`url` like http://127.0.0.1:8080)."""

    def __init__(
        self, url: str, key: str | None, *, timeout: float = 10.0, api_path: str = "/personalizer/v1.0"
    ) -> None:
        self.spec = f"service:{url}"
        headers = {"Ocp-Apim-Subscription-Key": key} if key else {}
        self._http = httpx.Client(base_url=url.rstrip("/") + api_path, headers=headers, timeout=timeout)

    def rank(
        self,
        context: Mapping,
        actions: Sequence[Mapping],
        *,
        excluded: Sequence[str] = (),
        event_id: str | None = None,
        defer: bool = False,
        **_: Any,
    ) -> Decision:
        """Rank like Personalizer.rank (library keyword arguments it has no use for are ignored)."""
        body = wire.rank_request(context, actions, excluded=excluded, event_id=event_id, defer=defer)
        event, chosen, probs = wire.rank_from_wire(self._call("POST", "/rank", body).json())
        ids = [a["id"] for a in actions]
        # the service's ranking as it came: the chosen action first, as the library's Decision
        return Decision(event, chosen, ids.index(chosen), probs[chosen], [probs[i] for i in ids], list(probs.items()))

    def reward(self, event_id: str, value: float, **_: Any) -> None:
        self._call("POST", f"/events/{event_id}/reward", wire.reward_request(value))

    def activate(self, event_id: str) -> None:
        self._call("POST", f"/events/{event_id}/activate", None)

    def expire(self, now: float | None = None) -> int:
        """Nothing to do here: the service closes reward windows on its own clock."""
        return 0

    def status(self) -> dict:
        return self._http.get(str(self._http.base_url).split("/personalizer")[0] + "/status").json()

    def _call(self, method: str, path: str, body: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise BanditError(f"cannot reach the decision service at {self._http.base_url}: {exc}") from None
        if response.status_code < 400:
            return response
        try:
            message = wire.error_message(response.json())
        except Exception:  # noqa: BLE001 - a proxy's HTML error page, say
            message = response.text[:200]
        kind = {404: UnknownEventError, 401: BanditError}.get(response.status_code, BanditError)
        if response.status_code == 409:
            kind = ExpiredEventError if "window closed" in message else DuplicateRewardError
        raise kind(f"{response.status_code}: {message}")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "ServiceClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
