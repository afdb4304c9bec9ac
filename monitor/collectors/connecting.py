"""Opening a collector's session: a refused identity or certificate said plainly, with what to check."""

from __future__ import annotations

from asyncua import Client, ua

from monitor.collectors.security import PASSWORD_ENV, credentials, secure
from monitor.collectors.settings import OpcuaSettings
from monitor.errors import CollectorError

_REFUSED_IDENTITY = {
    ua.StatusCodes.BadUserAccessDenied,
    ua.StatusCodes.BadIdentityTokenInvalid,
    ua.StatusCodes.BadIdentityTokenRejected,
}
_REFUSED_CERTIFICATE = {
    ua.StatusCodes.BadCertificateUntrusted,
    ua.StatusCodes.BadCertificateInvalid,
    ua.StatusCodes.BadCertificateUriInvalid,
    ua.StatusCodes.BadCertificateTimeInvalid,
    ua.StatusCodes.BadSecurityChecksFailed,
}


async def connect(client: Client, settings: OpcuaSettings) -> None:
    """Secure and connect `client` (no auto-reconnect: the collector supervises its sessions)."""
    await secure(client, settings.security)
    try:
        await client.connect(auto_reconnect=False)
    except ua.UaStatusCodeError as exc:
        if exc.code in _REFUSED_IDENTITY:
            user = credentials(settings.security)
            who = f"user {user.username!r}" if user else "anonymous access"
            raise CollectorError(
                f"{settings.endpoint}: the server refused {who} "
                f"({ua.StatusCode(exc.code).name}); check {PASSWORD_ENV} or [opcua.security] password_file"
            ) from exc
        if exc.code in _REFUSED_CERTIFICATE:
            raise CollectorError(
                f"{settings.endpoint}: the server refused our certificate "
                f"{settings.security.certificate} ({ua.StatusCode(exc.code).name}); "
                "add it to the server's trusted clients"
            ) from exc
        raise
