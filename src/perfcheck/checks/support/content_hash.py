"""Content hashes in asset names as the major bundlers write them (used by `cdn.static_cache`).

webpack and Parcel write hex (`[contenthash:6]`, 8 or 20 characters, Angular 16), Vite and
Rollup 8 characters of base64url (`index-BxY3a_9Q.js`, `-` and `_` included), esbuild 8 of
base32 (`chunk-ABCD1234.js`); Next.js keeps everything under `/_next/static/` content-addressed
(hashed chunks and build-id folders). The hash follows a `.`, `-`, `_` or `~` and comes before the
extensions (`main.3f2a1b9c.chunk.js`). A plain `app.js` or `jquery-3.7.1.min.js` carries none.
"""

from __future__ import annotations

import re

# A segment after a separator, up to the next dot: every start is tried (lookahead, overlapping).
_SEGMENTS = re.compile(r"(?=(?:^|[.\-_~])([A-Za-z0-9_\-]+)\.[A-Za-z0-9]+)")
_HEX = re.compile(r"[0-9a-f]{6,64}|[0-9A-F]{6,64}")
_BASE64URL = re.compile(r"[A-Za-z0-9_\-]{8}")
_BASE32 = re.compile(r"[A-Z2-7]{8}")
_ALNUM_LONG = re.compile(r"[A-Za-z0-9_]{9,64}")
_VERSION_QUERY = re.compile(r"[?&](v|ver|version|hash|h|rev)=[^&]{6,}", re.I)
_CONTENT_ADDRESSED_DIRS = ("/_next/static/",)


def _mixed(token: str) -> bool:
    return any(c.isdigit() for c in token) and any(c.isalpha() for c in token)


def _random_case(token: str) -> bool:
    """Base64 without a digit: upper and lower case mixed as no word is (BxYaQzKp, not MyButton)."""
    rises = sum(1 for a, b in zip(token, token[1:]) if a.islower() and b.isupper())
    return rises >= 2 and sum(c.isupper() for c in token) >= 2 and sum(c.islower() for c in token) >= 2


def is_hash_token(token: str, *, at_start: bool = False) -> bool:
    """Whether one name segment is a content hash."""
    if at_start:  # the whole name a hash ([contenthash].js): only a long hex one is sure
        return len(token) >= 16 and bool(_HEX.fullmatch(token)) and _mixed(token)
    if _HEX.fullmatch(token):
        return _mixed(token)  # not 'facade' or a build number
    if _BASE32.fullmatch(token):
        return True
    if _BASE64URL.fullmatch(token):
        return _mixed(token) or _random_case(token)
    return bool(_ALNUM_LONG.fullmatch(token)) and _mixed(token) and not token.isupper()


def is_hashed(path: str) -> bool:
    """Whether an asset's URL names its content: a hash in the file name, a content-addressed
    folder, or a version in the query."""
    bare = path.split("?", 1)[0].split("#", 1)[0]
    if any(folder in bare for folder in _CONTENT_ADDRESSED_DIRS) or _VERSION_QUERY.search(path):
        return True
    name = bare.rsplit("/", 1)[-1]
    for match in _SEGMENTS.finditer(name):
        token = match.group(1)
        if match.start() == 0 and not name[:1] in ".-_~":
            if is_hash_token(token, at_start=True):
                return True
            continue
        if is_hash_token(token):
            return True
    return False
