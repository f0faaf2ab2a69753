"""Where a webhook or a file channel may point. Checked when the alerts file is read (so
``adwatch alerts check`` names the problem) and again when an alert is sent (so nothing
that slipped past the first check — a DNS name that now points inside, a symlink made
later — ever receives one).

Webhooks:
- link-local (169.254.0.0/16, fe80::/10) and cloud metadata addresses and names: refused
  always; a metadata service hands out cloud credentials to whoever asks from inside;
- loopback (127.0.0.0/8, ::1) needs ``allow_loopback: true``, private networks (RFC 1918,
  100.64.0.0/10, fc00::/7) ``allow_private: true``; any other non-public address is refused;
- a name is judged by every address it resolves to at send time, and the connection goes
  to the address that was checked (no second lookup a DNS answer could change); redirects
  are never followed; proxies from the environment are not used (a proxy would resolve
  the name itself, past the check);
- ``http://`` needs ``allow_http: true``: alerts name people and phone numbers;
- no credentials in the URL: ``user:password@`` and query parameters named like a
  credential (token, key, secret, password, sig, code, auth…) are refused; the credential
  goes in a file named by ``authorization_file`` (mode 0600), sent as the Authorization
  header. Other query parameters are allowed: they are routing, and they are never
  shown — errors name ``scheme://host:port`` only, because some receivers (chat webhooks)
  carry their token in the path.

File channels: the path stays inside ADWATCH_HOME (relative paths are relative to it), after
following symlinks; the file is opened without following a symlink, created 0600 in
folders created 0700, whatever the umask.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
import socket
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

FILE_MODE = 0o600  # the same rule as every data file adwatch keeps (issue 12, item 5)
DIR_MODE = 0o700

# Names a cloud's instance metadata service answers to (the addresses are below).
METADATA_NAMES = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal",
    "metadata.tencentyun.com", "metadata.azure.internal",
})
# Metadata addresses (all of 169.254.0.0/16 is refused as well).
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",    # AWS, Azure, GCP, Oracle, OpenStack… (link-local: refused anyway, named clearly)
    "169.254.170.2",      # AWS ECS task metadata
    "fd00:ec2::254",      # AWS IMDS over IPv6
    "fd00:ec2::23",       # AWS DNS over IPv6 (instance-local)
    "100.100.100.200",    # Alibaba Cloud
    "192.0.0.192",        # Oracle Cloud Classic
))
_PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                                   "100.64.0.0/10", "fc00::/7"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Other IPv6 forms that carry an IPv4 address in their last 32 bits: IPv4-compatible (::a.b.c.d),
# SIIT (::ffff:0:a.b.c.d) and local-use NAT64 (64:ff9b:1::/48). Judged by the IPv4 address inside.
_CARRIES_IPV4 = tuple(ipaddress.ip_network(n) for n in ("::/96", "::ffff:0:0:0/96", "64:ff9b:1::/48"))
# Whitespace and control characters: http.client refuses them with the whole path in its message.
_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\x7f]")
_CREDENTIAL_PARAM = re.compile(r"token|secret|passw|api[-_]?key|auth|credential|^(key|sig|signature|code|pwd|"
                               r"sas|apikey|session|sid)$", re.IGNORECASE)
_NUMERIC_HOST = re.compile(r"^[0-9a-fA-FxX.]+$")


class Refused(ValueError):
    """A channel points where alerts must not go; the message is one line and holds no secret."""


@dataclass(frozen=True)
class WebhookPolicy:
    allow_http: bool = False
    allow_private: bool = False
    allow_loopback: bool = False


def redact(url: str) -> str:
    """``scheme://host:port`` of ``url``, with "/…" when it had more: what errors and logs may show."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(unreadable url)"
    host = f"[{host}]" if ":" in host else host
    origin = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    return origin + ("/…" if parts.path not in ("", "/") or parts.query or parts.fragment else "")


def ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` names literally, in any form the resolver accepts: dotted, IPv6,
    and the old decimal/hex/octal/short forms ("2852039166", "0xA9FEA9FE", "169.254.43518")."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _embedded(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 one carries (mapped ::ffff:a.b.c.d, 6to4, NAT64), else itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in _NAT64 or any(address in net for net in _CARRIES_IPV4):
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def address_refusal(address: IPAddress, policy: WebhookPolicy) -> str | None:
    """Why alerts must not go to ``address`` under ``policy`` ("a loopback address (…)"), or None."""
    inner = _embedded(address)
    for ip in {address, inner}:
        if ip in METADATA_ADDRESSES:
            return "a cloud metadata address (never allowed)"
        if ip.is_link_local:
            return "a link-local address, where cloud metadata services answer (never allowed)"
        if ip.is_unspecified or ip.is_multicast or (isinstance(ip, ipaddress.IPv4Address) and ip.is_reserved):
            return "not a receiver's address (unspecified, multicast or reserved; never allowed)"
    if inner.is_loopback or address.is_loopback:
        return None if policy.allow_loopback else (
            "a loopback address (set allow_loopback: true on the channel if the receiver runs on "
            "this machine)")
    if any(inner in net for net in _PRIVATE if net.version == inner.version):
        return None if policy.allow_private else (
            "a private address (set allow_private: true on the channel if the receiver is on "
            "your own network)")
    if not inner.is_global:
        return "not a public address (never allowed)"
    return None


def url_refusal(url: str, policy: WebhookPolicy, *, by_name: bool = True) -> str | None:
    """Why ``url`` is refused, or None; never repeats a credential. ``by_name``: also judge a
    host by its name alone ("localhost"), as the config check does; at send time the name is
    judged by what it resolves to."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").rstrip(".")
        _ = parts.port  # raises on a bad port
    except ValueError:  # its message may quote what follows a colon: a password
        return "not a URL (unreadable host or port)"
    if _UNSAFE_URL_CHARS.search(url.strip()):
        return "not a URL (spaces or control characters; percent-encode them)"
    shown = redact(url)
    if parts.scheme not in ("http", "https"):
        return f"{shown} is not an http(s) URL"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return (f"{shown}: credentials in the URL are refused (they would be stored in the config and shown in "
                "logs); put them in a file named by authorization_file (mode 0600)")
    named = sorted({name for name, _ in parse_qsl(parts.query, keep_blank_values=True)
                    if _CREDENTIAL_PARAM.search(name)})
    if named:
        return (f"{shown}: a credential in the query string ({', '.join(named)}) is refused; put it in a file named "
                "by authorization_file (mode 0600), sent as the Authorization header")
    if not host:
        return f"{shown}: no host"
    literal = ip_literal(host)
    if literal is not None:
        reason = address_refusal(literal, policy)
        if reason:
            return f"{shown}: {literal} is {reason}"
    name = host.lower()
    if name in METADATA_NAMES:
        return f"{shown}: {name} is a cloud metadata service (never allowed)"
    if by_name and (name == "localhost" or name.endswith(".localhost")) and not policy.allow_loopback:
        return (f"{shown}: {name} is this machine (set allow_loopback: true on the channel if the receiver runs "
                "here)")
    if parts.scheme == "http" and not policy.allow_http:
        return (f"{shown}: plain http:// would send the alert (names, numbers) unencrypted; use https:// or set "
                "allow_http: true on the channel")
    return None


def connect_vetted(host: str, port: int, timeout: float | None, policy: WebhookPolicy) -> socket.socket:
    """Resolve ``host``, refuse if ANY of its addresses is refused (a name with one inside
    address is not to be trusted), then connect to a checked address itself, so no second
    lookup can send the alert elsewhere. Raises ``Refused`` or ``OSError``."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc.strerror}") from None
    for info in infos:
        shown = str(info[4][0])
        reason = address_refusal(ipaddress.ip_address(shown), policy)
        if reason:
            raise Refused(f"{host} is {reason}" if ip_literal(host) is not None
                          else f"{host} resolves to {shown}, {reason}")
    last: OSError = OSError(f"cannot resolve {host}: no address")
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last


# --- file channels ----------------------------------------------------------------------

def path_refusal(path: str) -> str | None:
    """What can be said of a file channel's path without knowing ADWATCH_HOME."""
    if not path.strip() or "\x00" in path:
        return "an empty or unreadable path"
    if ".." in Path(path).parts:
        return f"{path!r} climbs out with '..'; give a path inside ADWATCH_HOME (relative paths are relative to it)"
    return None


def confined(home: Path, path: str) -> Path:
    """``path`` (relative to ``home``) with symlinks followed; ``Refused`` when that is not
    inside ``home``."""
    reason = path_refusal(path)
    if reason:
        raise Refused(reason)
    root = Path(os.path.realpath(home))
    target = Path(os.path.realpath(home / path))  # home / absolute == absolute
    if target == root or not target.is_relative_to(root):
        raise Refused(f"{path!r} is {target}, outside ADWATCH_HOME ({root}); give a path inside it")
    return target


def open_confined(home: Path, path: str) -> int:
    """Open ``path`` for appending, created 0600 (folders 0700) whatever the umask, walking from
    ``home`` one folder at a time without following a symlink: a link swapped in after the
    check above is refused, not followed. Returns the file descriptor."""
    target = confined(home, path)
    root = Path(os.path.realpath(home))
    if not root.exists():
        os.makedirs(root, DIR_MODE, exist_ok=True)
        os.chmod(root, DIR_MODE)
    nofollow = os.O_NOFOLLOW | os.O_CLOEXEC
    folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        parts = target.relative_to(root).parts
        for part in parts[:-1]:
            made = False
            try:
                os.mkdir(part, DIR_MODE, dir_fd=folder)
                made = True
            except FileExistsError:
                pass
            try:
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | nofollow, dir_fd=folder)
            except OSError as exc:
                raise Refused(f"{path!r}: {part} is not a plain folder inside ADWATCH_HOME ({exc.strerror})") from None
            os.close(folder)
            folder = inner
            if made:
                os.fchmod(folder, DIR_MODE)  # mkdir's mode passes through the umask
        try:
            fd = os.open(parts[-1], os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | nofollow, FILE_MODE,
                         dir_fd=folder)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # the file itself is a symlink
                raise Refused(f"{path!r} is a symbolic link; give the real file inside ADWATCH_HOME") from None
            raise
    finally:
        os.close(folder)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise Refused(f"{path!r} is not a regular file")
    if info.st_mode & 0o077:
        os.fchmod(fd, FILE_MODE)  # os.open's mode passes through the umask; an old file may be open to all
    return fd


def secret_problem(file: Path) -> str | None:
    """A file holding a secret must be readable by its owner only."""
    mode = stat.S_IMODE(file.stat().st_mode)
    if mode & 0o077:
        return f"{file} is readable by other users (mode {mode:o}): chmod 600 {file}"
    return None
