"""`python -m service.openapi [PATH]`: write the app's OpenAPI document (make openapi).

The committed document describes the service as it runs in production, with API keys
configured (the image refuses to start without them), so it lists the key schemes. The
digest below is a placeholder that no key hashes to; it only switches the check on.
"""

import json
import sys
from pathlib import Path

from service.app import create_app
from service.settings import ServiceSettings

DOCUMENTATION_DIGEST = "sha256:" + "0" * 64


def render() -> str:
    app = create_app(ServiceSettings(api_keys=DOCUMENTATION_DIGEST))
    return json.dumps(app.openapi(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "openapi.json")
    target.write_text(render())
    print(f"wrote {target}")
