"""The gateway as a service: registry snapshot (refreshed), MQTT publisher, TCP server and, when
configured, upstream forwarding."""

from __future__ import annotations

import asyncio
import logging

from collectors.directory import load_directory
from collectors.mqtt import AckingPublisher, make_mqtt_client
from collectors.profile import load_profile
from collectors.server import Gateway
from collectors.settings import GatewaySettings
from registry.db import make_engine, migrate

log = logging.getLogger("collectors.service")


class GatewayService:
    def __init__(self, settings: GatewaySettings):
        self.s = settings
        self.profile = load_profile(settings.profile)
        self.engine = make_engine(settings.registry_url)
        self.gateway: Gateway | None = None
        self.publisher: AckingPublisher | None = None
        self.upstream = None
        self._refresh: asyncio.Task | None = None

    async def start(self) -> int:
        s = self.s
        migrate(self.engine)
        directory = await asyncio.to_thread(load_directory, self.engine)
        loop = asyncio.get_running_loop()
        self.publisher = AckingPublisher(make_mqtt_client(s, client_id=s.client_id), loop)
        self.publisher.connect(s.mqtt_host, s.mqtt_port)
        on_accepted = None
        if s.upstream:
            from collectors.upstream import Upstream, load_upstream_config

            self.upstream = Upstream(load_upstream_config(s.upstream))
            await self.upstream.start()
            on_accepted = self.upstream.enqueue
        self.gateway = Gateway(s, self.profile, directory, self.publisher, on_accepted=on_accepted)
        port = await self.gateway.start()
        self._refresh = asyncio.create_task(self._refresh_loop())
        log.info("collector gateway started", extra={"port": port, "collectors": len(directory.by_id)})
        return port

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.s.refresh_s)
            try:
                self.gateway.directory = await asyncio.to_thread(load_directory, self.engine)
            except Exception:  # keep the last good snapshot; the registry may be briefly away
                log.exception("registry refresh failed; keeping the previous collectors")

    async def stop(self) -> None:
        if self._refresh:
            self._refresh.cancel()
        if self.gateway:
            await self.gateway.stop()
        if self.upstream:
            await self.upstream.stop()
        if self.publisher:
            await asyncio.to_thread(self.publisher.close)
