"""The metrics service's FastAPI app (being built; see the issue)."""

from __future__ import annotations

from fastapi import FastAPI

from ioc_common.observability import always_ready, new_registry
from ioc_common.web import install_service_basics


def create_app() -> FastAPI:
    app = FastAPI(title="IOC metrics")
    install_service_basics(app, service="metrics", registry=new_registry(), readiness=always_ready)
    return app
