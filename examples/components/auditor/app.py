"""auditor (`orders/auditor/1`): an audit trail of the pipeline, fed by broadcast. Written in
Python: the rest of the pipeline is Rust, and nothing in the manifest or the messages says so.

- `booked id=.. cents=..` / `rejected id=.. reason=..`: logged and counted;
- `report` (a request): `booked=<n> rejected=<n> booked-cents=<n>`.

Grants it needs: none (it only receives). Built with componentize-py by `cargo xtask examples`.
"""

from typing import Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import errors, host_services, types

booked = 0
rejected = 0
booked_cents = 0


def field(line: str, key: str) -> Optional[str]:
    """The value of `key=value` in a message, if present."""
    for word in line.split()[1:]:
        name, sep, value = word.partition("=")
        if sep and name == key:
            return value
    return None


class ComponentLifecycle(exports.ComponentLifecycle):
    def initialize(self, config: types.ComponentConfig) -> None:
        return None

    def handle_message(self, msg: types.ComponentMessage) -> Optional[bytes]:
        global booked, rejected, booked_cents
        body = bytes(msg.payload).decode("utf-8", errors="replace")
        verb = body.split(" ", 1)[0]
        if verb == "booked":
            booked += 1
            cents = field(body, "cents")
            booked_cents += int(cents) if cents and cents.isdigit() else 0
            host_services.log(types.LogLevel.INFO, f"audit: {body}", None)
            return None
        if verb == "rejected":
            rejected += 1
            host_services.log(types.LogLevel.INFO, f"audit: {body}", None)
            return None
        if verb == "report":
            return f"booked={booked} rejected={rejected} booked-cents={booked_cents}".encode()
        raise Err(errors.WasmError_RuntimeError(f"unknown verb `{verb}`"))

    def handle_callback(self, msg: types.ComponentMessage) -> None:
        return None

    def metadata(self) -> types.ComponentMetadata:
        return types.ComponentMetadata(
            name="auditor",
            version="0.1.0",
            description="keeps an audit trail of booked and rejected orders (Python)",
            author="airssys-wasm",
            license="MIT OR Apache-2.0",
            supported_operations=["booked", "rejected", "report"],
            stateful=True,
        )

    def health(self) -> types.HealthStatus:
        return types.HealthStatus.HEALTHY

    def shutdown(self) -> None:
        return None
