"""`python -m service.keys`: make a new API key and the digest that goes into API_KEYS.

The key is printed once, for the client; only its SHA-256 digest is configured on the
service, so a leaked configuration does not leak a usable key.
"""

import secrets

from service.security import key_digest


def new_key() -> tuple[str, str]:
    key = secrets.token_urlsafe(32)
    return key, "sha256:" + key_digest(key).hex()


if __name__ == "__main__":
    key, digest = new_key()
    print(f"key (give to the client, store nowhere else): {key}")
    print(f"API_KEYS entry (configure on the service):   {digest}")
