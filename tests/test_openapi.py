"""The committed openapi.json is what the app generates (regenerate with `make openapi`)."""

import json

from service.openapi import render
from tests.support import PROJECT_ROOT


def test_committed_openapi_matches_the_app() -> None:
    committed = json.loads((PROJECT_ROOT / "openapi.json").read_text())
    assert committed == json.loads(render()), "openapi.json is stale: run `make openapi`"


def test_every_error_response_is_documented_as_a_problem() -> None:
    document = json.loads(render())
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert list(response["content"]) == ["application/problem+json"], (
                        path,
                        method,
                        status,
                    )
    assert "HTTPValidationError" not in document["components"]["schemas"]
    assert document["components"]["schemas"]["Problem"]["properties"]["errors"]


def test_every_reference_in_the_document_resolves() -> None:
    """A body the strict reader parses is documented by reference (`openapi_extra`); the
    schema it names must be among the components, or the viewers fail to render."""
    document = json.loads(render())
    text = json.dumps(document)
    names = set(document["components"]["schemas"])
    prefix = '"$ref": "#/components/schemas/'
    referenced = {part.split('"')[0] for part in text.split(prefix)[1:]}
    assert referenced <= names, referenced - names
