"""# The few Modal primitives the backend and the leases use

`ModalBackend` and `LeaseBook` never import `modal` directly: they talk to a
`Primitives` object with two Dicts, spawnable functions, `FunctionCall.from_id` and
an autoscaler. `ModalPrimitives` is the real thing (deployed app, looked up by
name); `fake_primitives.FakePrimitives` is the minimal in-process fake the tests use.
"""

from __future__ import annotations

from typing import Any, Protocol

from .settings_from_toml import CLASSES


class Call(Protocol):
    object_id: str

    def get(self, timeout: float | None = None) -> Any: ...

    def cancel(self, terminate_containers: bool = False) -> None: ...


class Spawnable(Protocol):
    def spawn(self, *args: Any) -> Call: ...


class Autoscaler(Protocol):
    def set_min_containers(self, object_name: str, min_containers: int) -> None: ...


class Primitives(Protocol):
    jobs: Any  # modal.Dict-like: get, [], put(skip_if_exists=), pop, keys
    leases: Any
    active: Any

    def function(self, object_name: str) -> Spawnable: ...

    def function_call(self, call_id: str) -> Call: ...

    autoscaler: Autoscaler


class ModalAutoscaler:
    """`Function.autoscaler.update(min_containers=...)`; for a class, its instance's `update_autoscaler`."""

    def __init__(self, app_name: str):
        self.app_name = app_name

    def set_min_containers(self, object_name: str, min_containers: int) -> None:
        import modal

        if object_name in CLASSES:
            modal.Cls.from_name(self.app_name, object_name)().update_autoscaler(min_containers=min_containers)
        else:
            modal.Function.from_name(self.app_name, object_name).autoscaler.update(min_containers=min_containers)


class ModalPrimitives:
    """The deployed app's objects, looked up by name (works inside any container of the app)."""

    def __init__(self, app_name: str):
        import modal

        self.app_name = app_name
        self.jobs = modal.Dict.from_name(jobs_dict_name(app_name), create_if_missing=True)
        self.leases = modal.Dict.from_name(leases_dict_name(app_name), create_if_missing=True)
        self.active = modal.Dict.from_name(active_dict_name(app_name), create_if_missing=True)
        self.autoscaler = ModalAutoscaler(app_name)
        self._functions: dict[str, Any] = {}

    def function(self, object_name: str) -> Spawnable:
        import modal

        if object_name not in self._functions:
            if object_name in CLASSES:
                self._functions[object_name] = modal.Cls.from_name(self.app_name, object_name)().run
            else:
                self._functions[object_name] = modal.Function.from_name(self.app_name, object_name)
        return self._functions[object_name]

    def function_call(self, call_id: str) -> Call:
        import modal

        return modal.FunctionCall.from_id(call_id)


def jobs_dict_name(app_name: str) -> str:
    return f"{app_name}-jobs"


def leases_dict_name(app_name: str) -> str:
    return f"{app_name}-leases"


def active_dict_name(app_name: str) -> str:
    return f"{app_name}-active"
