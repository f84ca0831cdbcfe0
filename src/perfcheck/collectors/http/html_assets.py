"""Static assets and images named by an HTML page (stylesheets, scripts, icons,
fonts, images). Pure parsing: the HTTP collector fetches what this finds."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

MODERN_IMAGE_TYPES = ("image/avif", "image/webp")


@dataclass(frozen=True)
class AssetRef:
    url: str  # absolute, fragment removed
    type: str  # "style" | "script" | "image" | "icon" | "font" | "other"
    # An <img> inside a <picture> that also offers WebP/AVIF sources: its legacy
    # format is only the fallback, so it is not a finding.
    modern_alternative: bool = False


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str, bool]] = []
        self.base_href: str | None = None
        self._picture_depth = 0
        self._picture_modern = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "base" and a.get("href") and self.base_href is None:
            self.base_href = a["href"]
        elif tag == "link" and a.get("href"):
            rel = a.get("rel", "").lower().split()
            as_ = a.get("as", "").lower()
            if "stylesheet" in rel or as_ == "style":
                self.found.append((a["href"], "style", False))
            elif "icon" in rel or "apple-touch-icon" in rel:
                self.found.append((a["href"], "icon", False))
            elif as_ in ("script", "font", "image") or "modulepreload" in rel:
                self.found.append((a["href"], {"font": "font", "image": "image"}.get(as_, "script"), False))
        elif tag == "script" and a.get("src"):
            self.found.append((a["src"], "script", False))
        elif tag == "picture":
            self._picture_depth += 1
            self._picture_modern = False
        elif tag == "source" and self._picture_depth:
            if a.get("type", "").lower() in MODERN_IMAGE_TYPES:
                self._picture_modern = True
        elif tag == "img":
            src = a.get("src") or _first_srcset(a.get("srcset", ""))
            if src and not src.startswith("data:"):
                self.found.append((src, "image", bool(self._picture_depth and self._picture_modern)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "picture" and self._picture_depth:
            self._picture_depth -= 1


def _first_srcset(srcset: str) -> str:
    first = srcset.split(",")[0].strip()
    return first.split()[0] if first else ""


def find_assets(html: str, page_url: str, allowed_hosts: set[str], limit: int) -> list[AssetRef]:
    """Assets on the page's own host or an allowed asset host, each once, at most `limit`."""
    parser = _Collect()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # a broken page still yields what was parsed before the break
        pass
    base = urljoin(page_url, parser.base_href) if parser.base_href else page_url
    page_host = urlsplit(page_url).netloc
    seen: dict[str, AssetRef] = {}
    for ref, kind, modern in parser.found:
        url = urljoin(base, ref.strip()).split("#", 1)[0]
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            continue
        if parts.netloc != page_host and parts.hostname not in allowed_hosts:
            continue  # third-party scripts are not the audited site's to fix
        if kind == "other" or url in seen:
            continue
        seen[url] = AssetRef(url, kind, modern)
        if len(seen) >= limit:
            break
    return list(seen.values())
