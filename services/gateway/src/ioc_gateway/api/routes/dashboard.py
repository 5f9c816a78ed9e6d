"""The dashboard: one page and its assets, all served from the package (no CDN, works with
no internet)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

STATIC_DIR = Path(str(resources.files("ioc_gateway") / "static"))

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root() -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=307)


@router.get("/dashboard")
async def dashboard() -> FileResponse:
    # The page holds no data; it asks the API, which checks the session.
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})
