"""The pages a person opens, all served by the service itself with nothing from another
host: the customer form at `/`, the API documentation at `/docs` (Swagger UI) and
`/redoc` (ReDoc), their static files, and the OpenAPI document they read.

The viewers' scripts and styles come from the fastapi-offline package, which ships the
Swagger UI and ReDoc distributions; the HTML that loads them is ours, with no inline
script, so the Content-Security-Policy allows scripts from this service only.
"""

from importlib.resources import files
from pathlib import Path
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse

from service.errors import RoutingError

STATIC_DIR: Final = Path(__file__).resolve().parent.parent / "static"
_VIEWERS: Final = Path(str(files("fastapi_offline") / "static"))

# URL path under /static -> file. Only these are served: no path from a request ever
# reaches the file system.
ASSETS: Final = {
    "app.css": STATIC_DIR / "app.css",
    "app.js": STATIC_DIR / "app.js",
    "docs/swagger-init.js": STATIC_DIR / "docs" / "swagger-init.js",
    "docs/swagger-ui.css": _VIEWERS / "swagger-ui.css",
    "docs/swagger-ui-bundle.js": _VIEWERS / "swagger-ui-bundle.js",
    "docs/redoc.standalone.js": _VIEWERS / "redoc.standalone.js",
}
_MEDIA_TYPES: Final = {".js": "text/javascript", ".css": "text/css"}

router = APIRouter(include_in_schema=False)


def _html(path: Path) -> FileResponse:
    return FileResponse(path, media_type="text/html")


@router.get("/")
async def index() -> FileResponse:
    return _html(STATIC_DIR / "index.html")


@router.get("/docs")
async def swagger_ui() -> FileResponse:
    return _html(STATIC_DIR / "docs" / "swagger.html")


@router.get("/redoc")
async def redoc() -> FileResponse:
    return _html(STATIC_DIR / "docs" / "redoc.html")


@router.get("/openapi.json")
async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get("/static/{name:path}")
async def asset(name: str) -> FileResponse:
    path = ASSETS.get(name)
    if path is None:
        raise RoutingError(404, f"Nothing is served at /static/{name}.")
    return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix])
