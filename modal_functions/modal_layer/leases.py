"""# Warm leases: raise `min_containers` for a while, and always come back down

`POST /v1/warm {kinds, min_containers, ttl_s}` on Modal grants a lease:

1. the lease is recorded in the leases `modal.Dict` (`lease:<id>` -> kinds, minimum, expiry);
2. `reconcile()` sets every Modal object of those kinds to
   `max(modal.toml min_containers, largest live lease)` through the autoscaler API.

A `modal.Period` function (`app.reconcile_leases`, every minute) calls `reconcile()`
again. It drops expired leases and sets every object back to the desired minimum,
*every tick*, whether or not it thinks something changed. That one rule covers:

- **expiry**: the pool returns to its `modal.toml` minimum, even if the caller that
  asked for the lease died (nothing depends on it coming back);
- **redeploy**: `modal deploy` wipes autoscaler overrides; the next tick re-applies the
  live leases.

It is a handful of cheap control-plane calls a minute. The clock is injected, so the
tests move time by hand.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import Any, Callable

from ..config import ComputeConfig
from ..contract.jobs import WarmLease
from ..errors import BAD_REQUEST, CapabilityError
from .primitives import Autoscaler
from .settings_from_toml import MODAL_OBJECTS, object_kwargs

LEASE_PREFIX = "lease:"
MODAL_UNAVAILABLE = "modal_unavailable"


class AutoscalerError(RuntimeError):
    pass

DEFAULT_LEASE_MIN = 1


class LeaseBook:
    def __init__(self, config: ComputeConfig, leases: Any, autoscaler: Autoscaler, *, clock: Callable[[], float] = time.time):
        self.config = config
        self.leases = leases
        self.autoscaler = autoscaler
        self.clock = clock

    def grant(self, kinds: list[str], ttl_s: int, min_containers: int | None = None) -> WarmLease:
        unknown = [k for k in kinds if k not in MODAL_OBJECTS or k == "api"]
        if unknown or not kinds:
            raise CapabilityError(BAD_REQUEST, f"cannot warm {unknown or kinds}", http_status=422)
        n = DEFAULT_LEASE_MIN if min_containers is None else int(min_containers)
        lease_id = uuid.uuid4().hex
        expires_at = self.clock() + ttl_s
        self.leases[LEASE_PREFIX + lease_id] = {"id": lease_id, "kinds": list(kinds), "min_containers": n, "expires_at": expires_at}
        try:
            self.reconcile()
        except AutoscalerError as e:  # recorded: the next Period tick applies it
            raise CapabilityError(MODAL_UNAVAILABLE, f"lease {lease_id} recorded, not yet applied: {e}", retryable=True, http_status=503) from e
        return WarmLease(
            id=lease_id,
            kinds=list(kinds),
            min_containers=n,
            expires_at=datetime.fromtimestamp(expires_at, timezone.utc),
            backend="modal",
        )

    def live(self) -> list[dict[str, Any]]:
        now = self.clock()
        return [v for k, v in list(self.leases.items()) if str(k).startswith(LEASE_PREFIX) and v["expires_at"] > now]

    def desired(self) -> dict[str, int]:
        """Modal object name -> the minimum it should have now (modal.toml min, raised by live leases)."""
        live = self.live()
        out: dict[str, int] = {}
        for kind, names in MODAL_OBJECTS.items():
            if kind == "api":
                continue
            lease_min = max((lease["min_containers"] for lease in live if kind in lease["kinds"]), default=0)
            for name in names:
                kw = object_kwargs(self.config, name)
                out[name] = min(max(kw["min_containers"], lease_min), kw["max_containers"])
        return out

    def reconcile(self) -> dict[str, int]:
        """Drop expired leases and apply the desired minimum to every object. Returns what was applied."""
        now = self.clock()
        for key, lease in list(self.leases.items()):
            if str(key).startswith(LEASE_PREFIX) and lease["expires_at"] <= now:
                self.leases.pop(key, None)
        desired = self.desired()
        failures = []
        for name, n in desired.items():
            try:
                self.autoscaler.set_min_containers(name, n)
            except Exception as e:  # noqa: BLE001 - one object failing must not stop the others
                failures.append(f"{name}: {e}")
        if failures:
            raise AutoscalerError("autoscaler updates failed: " + "; ".join(failures))
        return desired
