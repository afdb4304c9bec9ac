"""An aiomqtt client that remembers the broker's CONNACK "session present" flag.

With clean_session=False the broker answers every CONNECT with whether it still held our session
(MQTT 3.1.1 §3.2.2.2; paho passes it to on_connect as `flags.session_present`). aiomqtt does not
expose it, so this subclass notes it before aiomqtt's own handling. Imported only when a broker is
reached (aiomqtt and paho cost a config check ~30 ms otherwise).
"""

from __future__ import annotations

from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt


class SessionClient(aiomqtt.Client):
    """aiomqtt.Client plus `session_present`: None before the CONNACK, then the broker's answer."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session_present: bool | None = None

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: Any,
        properties: Any = None,
    ) -> None:
        self.session_present = bool(flags.session_present)
        connected = super()._on_connect  # reach-in: aiomqtt keeps the CONNACK flags to itself
        connected(client, userdata, flags, reason_code, properties)
