"""`python -m service.openapi [PATH]`: write the app's OpenAPI document (make openapi)."""

import json
import sys
from pathlib import Path
from typing import Any

from service.app import create_app


def render() -> str:
    document: dict[str, Any] = create_app().openapi()
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "openapi.json")
    target.write_text(render())
    print(f"wrote {target}")
