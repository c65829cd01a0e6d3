"""Content-Type from a file name, from a built-in table.

Pure (sans-io). The stdlib ``mimetypes`` module is deliberately not used: it
reads the host's ``/etc/mime.types`` (and the Windows registry), so the same
file would be served with different types on different machines, and a
wrong ``text/plain`` for ``.js`` breaks module scripts, which browsers only
run when served with a JavaScript type (HTML Standard, "fetch a single
module script").
"""

from __future__ import annotations

__all__ = ["DEFAULT_TYPE", "guess_type"]

# RFC 9110 §8.3: "application/octet-stream" for data of unknown type; with
# "X-Content-Type-Options: nosniff" the browser downloads it, never renders it.
DEFAULT_TYPE = "application/octet-stream"

_JS = "text/javascript"  # RFC 9239 §6: the one JavaScript type to use

# Extension (lower case, without the dot) -> media type, parameters added
# below. Types are the IANA-registered ones where one exists.
_BASE: dict[str, str] = {
    # Web pages and their sources
    "html": "text/html",
    "htm": "text/html",
    "xhtml": "application/xhtml+xml",
    "css": "text/css",
    "js": _JS,
    "mjs": _JS,
    "cjs": _JS,
    # ".ts"/".mts"/".cts" are also MPEG transport streams, but a server for
    # previewing front-end work meets TypeScript sources far more often than
    # HLS segments. As video/mp2t a browser would offer a download or a video
    # player; as text/javascript it shows the source and tools that fetch
    # and transpile it get what they expect. ".m2ts" stays video.
    "ts": _JS,
    "mts": _JS,
    "cts": _JS,
    "tsx": _JS,
    "jsx": _JS,
    "json": "application/json",
    "map": "application/json",  # source maps are JSON (ECMA-426)
    "jsonld": "application/ld+json",
    "geojson": "application/geo+json",
    "webmanifest": "application/manifest+json",
    "xml": "application/xml",  # RFC 7303 prefers it to text/xml
    "xsl": "application/xslt+xml",
    "xslt": "application/xslt+xml",
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "wasm": "application/wasm",  # required for WebAssembly.instantiateStreaming
    # Images
    "svg": "image/svg+xml",
    "png": "image/png",
    "apng": "image/apng",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "jfif": "image/jpeg",
    "pjpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "avif": "image/avif",
    "heic": "image/heic",
    "heif": "image/heif",
    "jxl": "image/jxl",
    "ico": "image/x-icon",  # what browsers expect for favicons
    "cur": "image/x-icon",
    "bmp": "image/bmp",
    "tif": "image/tiff",
    "tiff": "image/tiff",
    # Fonts (RFC 8081)
    "woff": "font/woff",
    "woff2": "font/woff2",
    "ttf": "font/ttf",
    "otf": "font/otf",
    "ttc": "font/collection",
    "eot": "application/vnd.ms-fontobject",
    # Audio and video
    "mp4": "video/mp4",
    "m4v": "video/mp4",
    "webm": "video/webm",
    "ogv": "video/ogg",
    "mov": "video/quicktime",
    "mkv": "video/x-matroska",
    "avi": "video/x-msvideo",
    "mpeg": "video/mpeg",
    "mpg": "video/mpeg",
    "m2ts": "video/mp2t",
    "m3u8": "application/vnd.apple.mpegurl",
    "mpd": "application/dash+xml",
    "ogg": "audio/ogg",
    "oga": "audio/ogg",
    "opus": "audio/ogg",  # RFC 7845 §9: Opus in Ogg
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "flac": "audio/flac",
    "m4a": "audio/mp4",
    "aac": "audio/aac",
    "mid": "audio/midi",
    "midi": "audio/midi",
    "weba": "audio/webm",
    "vtt": "text/vtt",  # WebVTT subtitles for <track>
    "srt": "application/x-subrip",
    # Documents and plain data
    "pdf": "application/pdf",
    "txt": "text/plain",
    "text": "text/plain",
    "log": "text/plain",
    "md": "text/markdown",  # RFC 7763
    "markdown": "text/markdown",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "ics": "text/calendar",
    "vcf": "text/vcard",
    "yaml": "application/yaml",  # RFC 9512
    "yml": "application/yaml",
    "toml": "application/toml",
    "rtf": "application/rtf",
    "epub": "application/epub+zip",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt": "application/vnd.ms-powerpoint",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    # Certificates, as nginx serves them: a phone offered a CA file with this
    # type installs it as a certificate (HTTPS: trusting the local CA).
    "crt": "application/x-x509-ca-cert",
    "pem": "application/x-x509-ca-cert",
    "der": "application/x-x509-ca-cert",
    "cer": "application/pkix-cert",  # RFC 2585
    # Source code a developer may want to read in the browser: text/* so it
    # is displayed rather than downloaded.
    "py": "text/x-python",
    "sh": "text/x-shellscript",
    "c": "text/x-c",
    "h": "text/x-c",
    "cpp": "text/x-c++",
    "hpp": "text/x-c++",
    "rs": "text/x-rust",
    "go": "text/x-go",
    "java": "text/x-java",
    "rb": "text/x-ruby",
    "php": "text/x-php",  # served as text, never executed
    "vue": "text/plain",
    "svelte": "text/plain",
    "scss": "text/x-scss",
    "sass": "text/x-sass",
    "less": "text/x-less",
    "ini": "text/plain",
    "cfg": "text/plain",
    "conf": "text/plain",
    "diff": "text/x-diff",
    "patch": "text/x-diff",
    # Archives. ".gz"/".br"/".zst" are served as the files they are, with no
    # Content-Encoding: a download of x.tar.gz must stay compressed on disk.
    "zip": "application/zip",
    "gz": "application/gzip",  # RFC 6713
    "tgz": "application/gzip",
    "tar": "application/x-tar",
    "br": "application/x-brotli",
    "zst": "application/zstd",  # RFC 8878
    "xz": "application/x-xz",
    "bz2": "application/x-bzip2",
    "7z": "application/x-7z-compressed",
    "rar": "application/vnd.rar",
    "jar": "application/java-archive",
    "apk": "application/vnd.android.package-archive",
    "dmg": "application/x-apple-diskimage",
    "iso": "application/x-iso9660-image",
    "exe": "application/vnd.microsoft.portable-executable",
    "bin": DEFAULT_TYPE,
}

# Non-text/* types that are nevertheless text. Declaring UTF-8 stops the
# browser guessing an encoding (and "nosniff" stops it guessing a type);
# RFC 8259 §11 says a charset on JSON has no effect on compliant recipients,
# so adding it is harmless and helps the ones that are not.
_TEXTUAL = frozenset(
    {
        "application/json",
        "application/ld+json",
        "application/geo+json",
        "application/manifest+json",
        "application/xml",
        "application/xhtml+xml",
        "application/xslt+xml",
        "application/rss+xml",
        "application/atom+xml",
        "application/dash+xml",
        "application/vnd.apple.mpegurl",
        "application/yaml",
        "application/toml",
        "application/x-subrip",
        "image/svg+xml",
    }
)


def _with_charset(media_type: str) -> str:
    if media_type.startswith("text/") or media_type in _TEXTUAL:
        return media_type + "; charset=utf-8"
    return media_type


# The table guess_type reads: full header values, built once at import.
_TYPES: dict[str, str] = {ext: _with_charset(media) for ext, media in _BASE.items()}


def guess_type(name: str) -> str:
    """The Content-Type value for a file name or path, by its extension.

    Case-insensitive. A name without an extension, a dotfile such as
    ``.bashrc`` (the dot starts the name, not an extension), a name ending
    in "." and an unknown extension all give ``application/octet-stream``.
    """
    base = name[name.rfind("/") + 1 :]
    dot = base.rfind(".")
    if dot <= 0:
        return DEFAULT_TYPE
    return _TYPES.get(base[dot + 1 :].lower(), DEFAULT_TYPE)
