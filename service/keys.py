"""API keys: what a configured key is (an id, a digest and its scopes), how API_KEYS is
read, and `python -m service.keys`, which makes a new key and its digest.

The key is printed once, for the client; only its SHA-256 digest is configured on the
service, so a leaked configuration does not leak a usable key. The id is what the
decision log records as the caller: never the key, never the digest.
"""

import hashlib
import json
import secrets
from typing import Annotated, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

Scope = Literal["score", "models:read", "admin", "audit", "metrics", "outcomes"]
SCOPES: Final[tuple[str, ...]] = get_args(Scope)
# What a key configured the old way (a bare digest) may do: what every key could before
# scopes existed, less reloading the model, which now needs `admin`.
LEGACY_SCOPES: Final = frozenset({"score", "models:read"})

Digest = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]


class ApiKeyEntry(BaseModel):
    """One accepted key, as configured: `{"id": ..., "digest": "sha256:...", "scopes": [...]}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,64}$")] = Field(
        description="Who the caller is, as logged and recorded (letters, digits, . _ : -)."
    )
    digest: Digest = Field(description="sha256:<64 lower-case hex> of the key.")
    scopes: frozenset[Scope] = Field(min_length=1, description="What the key may do.")

    @property
    def digest_bytes(self) -> bytes:
        return bytes.fromhex(self.digest.removeprefix("sha256:"))


_ENTRIES: Final = TypeAdapter(list[ApiKeyEntry])


def parse_api_keys(value: str) -> tuple[ApiKeyEntry, ...]:
    """API_KEYS as entries: a JSON list of entries, or comma-separated bare digests (each
    gets LEGACY_SCOPES and the first 12 hex digits of its digest as its id). Raises
    ValueError naming the entry and the rule it broke, never echoing a value."""
    text = value.strip()
    if text.startswith("["):
        try:
            entries = _ENTRIES.validate_json(text)
        except ValidationError as error:
            rules = "; ".join(
                f"entry {'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
                if problem["loc"]
                else f"it is not valid JSON ({problem['msg']})"
                for problem in error.errors(include_input=False)
            )
            raise ValueError(f"API_KEYS is a JSON list of key entries, but {rules}") from None
    else:
        entries = []
        for item in filter(None, (part.strip() for part in text.split(","))):
            try:
                entries.append(ApiKeyEntry(id=item[7:19], digest=item, scopes=LEGACY_SCOPES))
            except ValidationError:
                raise ValueError(
                    "each API_KEYS entry must be sha256:<64 lower-case hex digits> (the digest "
                    "of a key, never the key itself), or API_KEYS a JSON list of entries"
                ) from None
    for field in ("id", "digest"):
        values = [getattr(entry, field) for entry in entries]
        if len(set(values)) != len(values):
            raise ValueError(f"API_KEYS lists the same {field} twice: each key needs its own")
    return tuple(entries)


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_key() -> tuple[str, str]:
    key = secrets.token_urlsafe(32)
    return key, "sha256:" + key_digest(key).hex()


if __name__ == "__main__":
    key, digest = new_key()
    example = json.dumps([{"id": "my-client", "digest": digest, "scopes": ["score"]}])
    print(f"key (give to the client, store nowhere else): {key}")
    print(f"API_KEYS entry (configure on the service):   {digest}")
    print(f"or, with an id and scopes ({', '.join(SCOPES)}):")
    print(f"  API_KEYS='{example}'")
