"""`drwave login`: sign in to the deployed stack's Cognito user pool (SRP), cache and refresh the tokens.

The password never leaves this process: USER_SRP_AUTH proves knowledge of it (Secure Remote Password, the variant
Cognito speaks: SHA-256, the RFC 5054 3072-bit group, HKDF "Caldera Derived Key"). Tokens are cached per API URL
in ~/.config/drwave/tokens.json (mode 0600) and refreshed with REFRESH_TOKEN_AUTH when the ID token has expired.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# RFC 5054 3072-bit group, as Cognito uses it (g = 2).
N_HEX = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF"
)
N = int(N_HEX, 16)
G = 2
INFO = b"Caldera Derived Key"
REFRESH_MARGIN_SECONDS = 60  # refresh a token about to expire, not one the API would refuse mid-request
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class AuthError(Exception):
    """Signing in or refreshing failed; the message says why and what to do (never the password)."""


class NotSignedIn(AuthError):
    """No usable session for an API URL: `drwave login` first."""


# --- SRP (the client side of Cognito's USER_SRP_AUTH) ---------------------------------------------------------


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pad_hex(value: int | str) -> str:
    """Hex of a positive integer as Cognito hashes it: even length, and a leading 00 when the top bit is set."""
    text = value if isinstance(value, str) else format(value, "x")
    if len(text) % 2:
        return "0" + text
    return "00" + text if text[0] in "89abcdefABCDEF" else text


def _hash_hex(hex_text: str) -> int:
    return int(_sha256_hex(bytes.fromhex(hex_text)), 16)


K = _hash_hex("00" + N_HEX + "0" + format(G, "x"))


def hkdf(ikm: bytes, salt: bytes) -> bytes:
    """The 16-byte key Cognito derives from the shared secret S, salted with u."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hmac.new(prk, INFO + b"\x01", hashlib.sha256).digest()[:16]


def cognito_timestamp(now: datetime) -> str:
    """`Tue Mar 4 09:05:01 UTC 2025`: day without a leading zero, English names whatever the locale."""
    now = now.astimezone(UTC)
    return f"{WEEKDAYS[now.weekday()]} {MONTHS[now.month - 1]} {now.day} {now:%H:%M:%S} UTC {now.year}"


class Srp:
    """One SRP exchange: A to send, then the password claim for the server's challenge."""

    def __init__(self, pool_id: str, small_a: int | None = None) -> None:
        self.pool_name = pool_id.split("_", 1)[1]
        self.small_a = small_a if small_a is not None else secrets.randbits(1024) % N
        self.large_a = pow(G, self.small_a, N)

    @property
    def srp_a(self) -> str:
        return format(self.large_a, "x")

    def password_key(self, user_id: str, password: str, salt_hex: str, srp_b_hex: str) -> bytes:
        """The key both sides derive when the password is right."""
        large_b = int(srp_b_hex, 16)
        if large_b % N == 0:
            raise AuthError("the user pool sent an invalid SRP challenge (B mod N is 0)")
        u = _hash_hex(pad_hex(self.large_a) + pad_hex(large_b))
        if u == 0:
            raise AuthError("the user pool sent an invalid SRP challenge (u is 0)")
        identity = _sha256_hex(f"{self.pool_name}{user_id}:{password}".encode())
        x = _hash_hex(pad_hex(salt_hex) + identity)
        s = pow(large_b - K * pow(G, x, N), self.small_a + u * x, N)
        return hkdf(bytes.fromhex(pad_hex(s)), bytes.fromhex(pad_hex(u)))

    def claim(self, parameters: dict[str, str], password: str, now: datetime) -> dict[str, str]:
        """The PASSWORD_VERIFIER challenge responses for the server's SALT, SRP_B and SECRET_BLOCK."""
        user_id = parameters["USER_ID_FOR_SRP"]
        key = self.password_key(user_id, password, parameters["SALT"], parameters["SRP_B"])
        timestamp = cognito_timestamp(now)
        secret_block = parameters["SECRET_BLOCK"]
        message = self.pool_name.encode() + user_id.encode() + base64.b64decode(secret_block) + timestamp.encode()
        signature = base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
        return {
            "USERNAME": user_id,
            "TIMESTAMP": timestamp,
            "PASSWORD_CLAIM_SECRET_BLOCK": secret_block,
            "PASSWORD_CLAIM_SIGNATURE": signature,
        }


# --- sessions and their cache ---------------------------------------------------------------------------------


@dataclass
class Session:
    """A signed-in user of one deployed API: where to refresh, and the tokens."""

    api_url: str
    region: str
    user_pool_id: str
    client_id: str
    username: str
    id_token: str
    access_token: str
    refresh_token: str
    expires_at: float  # epoch seconds
    stack: str | None = None

    def expired(self, now: float) -> bool:
        return now >= self.expires_at - REFRESH_MARGIN_SECONDS


def api_key(url: str) -> str:
    """Sessions are cached under the API URL as the commands name it, without a trailing slash."""
    return url.strip().rstrip("/")


def config_dir() -> Path:
    """$XDG_CONFIG_HOME/drwave, else ~/.config/drwave."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "drwave"


class TokenStore:
    """tokens.json: {"sessions": {api url: session}}, readable by its owner only."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / "tokens.json"

    def _read(self) -> dict[str, Any]:
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"sessions": {}}
        except (OSError, ValueError) as err:
            raise AuthError(f"{self.path}: unreadable token cache ({err}); remove it and run `drwave login`") from None
        sessions = loaded.get("sessions") if isinstance(loaded, dict) else None
        return {"sessions": sessions if isinstance(sessions, dict) else {}}

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
        temporary.chmod(0o600)  # whatever the umask
        temporary.replace(self.path)

    def get(self, url: str) -> Session | None:
        raw = self._read()["sessions"].get(api_key(url))
        if not isinstance(raw, dict):
            return None
        try:
            return Session(**raw)
        except TypeError:
            return None  # written by another version: sign in again

    def put(self, session: Session) -> None:
        data = self._read()
        data["sessions"][api_key(session.api_url)] = asdict(session)
        self._write(data)

    def remove(self, url: str | None) -> list[str]:
        """Forget one API's session (or all of them with None); the URLs forgotten."""
        data = self._read()
        gone = list(data["sessions"]) if url is None else [k for k in data["sessions"] if k == api_key(url)]
        for key in gone:
            del data["sessions"][key]
        if gone:
            self._write(data)
        return gone


# --- signing in -----------------------------------------------------------------------------------------------

Prompt = Callable[[str], str]


def region_of_pool(pool_id: str) -> str:
    """`eu-west-1_AbCdE` -> eu-west-1."""
    region, sep, rest = pool_id.partition("_")
    if not sep or not region or not rest:
        raise AuthError(f"--user-pool-id: {pool_id!r} is not a user pool id (REGION_ID, e.g. eu-west-1_AbCdEf123)")
    return region


def _cognito_error(err: Exception) -> AuthError:
    from botocore.exceptions import ClientError  # noqa: PLC0415

    if isinstance(err, ClientError):
        code = err.response.get("Error", {}).get("Code", "")
        message = err.response.get("Error", {}).get("Message", "")
        if code == "NotAuthorizedException":
            return AuthError(f"sign-in refused: {message or 'incorrect username or password'}")
        if code in ("UserNotFoundException", "UserNotConfirmedException", "PasswordResetRequiredException"):
            return AuthError(f"sign-in refused: {message or code}")
        return AuthError(f"Cognito refused the sign-in: {code}: {message}")
    return AuthError(f"cannot reach Cognito: {err}")


def sign_in(
    cognito: Any,
    pool_id: str,
    client_id: str,
    username: str,
    password: str,
    *,
    new_password: Prompt,
    mfa_code: Prompt,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """USER_SRP_AUTH, then whatever challenge follows (a first sign-in's new password, a TOTP code): the
    AuthenticationResult (IdToken, AccessToken, RefreshToken, ExpiresIn)."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    srp = Srp(pool_id)
    try:
        answer = cognito.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_SRP_AUTH",
            AuthParameters={"USERNAME": username, "SRP_A": srp.srp_a},
        )
        for _ in range(5):  # PASSWORD_VERIFIER, then at most NEW_PASSWORD_REQUIRED and SOFTWARE_TOKEN_MFA
            if "AuthenticationResult" in answer:
                result: dict[str, Any] = answer["AuthenticationResult"]
                return result
            challenge = answer.get("ChallengeName")
            parameters = answer.get("ChallengeParameters") or {}
            user_id = parameters.get("USER_ID_FOR_SRP") or parameters.get("USERNAME") or username
            if challenge == "PASSWORD_VERIFIER":
                responses = srp.claim(parameters, password, now())
            elif challenge == "NEW_PASSWORD_REQUIRED":
                responses = {"USERNAME": user_id, "NEW_PASSWORD": new_password(username)}
            elif challenge == "SOFTWARE_TOKEN_MFA":
                responses = {"USERNAME": user_id, "SOFTWARE_TOKEN_MFA_CODE": mfa_code(username)}
            else:
                raise AuthError(
                    f"the user pool asks for {challenge}, which `drwave login` does not handle: "
                    "sign in once through the web console's hosted UI, then try again"
                )
            answer = cognito.respond_to_auth_challenge(
                ClientId=client_id,
                ChallengeName=challenge,
                Session=answer.get("Session") or "",
                ChallengeResponses=responses,
            )
    except (ClientError, BotoCoreError) as err:
        raise _cognito_error(err) from None
    raise AuthError("the user pool kept asking for more challenges; sign-in abandoned")


def session_from(
    result: dict[str, Any],
    *,
    api_url: str,
    region: str,
    pool_id: str,
    client_id: str,
    username: str,
    stack: str | None,
    now: float,
    refresh_token: str | None = None,
) -> Session:
    """A cacheable Session from an AuthenticationResult (a refresh returns no new refresh token)."""
    return Session(
        api_url=api_key(api_url),
        region=region,
        user_pool_id=pool_id,
        client_id=client_id,
        username=username,
        id_token=result["IdToken"],
        access_token=result["AccessToken"],
        refresh_token=result.get("RefreshToken") or refresh_token or "",
        expires_at=now + float(result.get("ExpiresIn", 3600)),
        stack=stack,
    )


def refresh(cognito: Any, session: Session, now: float) -> Session:
    """New ID and access tokens from the refresh token (REFRESH_TOKEN_AUTH)."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        answer = cognito.initiate_auth(
            ClientId=session.client_id,
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": session.refresh_token},
        )
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "NotAuthorizedException":
            raise NotSignedIn(
                f"the session for {session.api_url} has expired; sign in again: drwave login "
                + (f"--stack {session.stack}" if session.stack else f"--api-url {session.api_url} ...")
            ) from None
        raise _cognito_error(err) from None
    except BotoCoreError as err:
        raise _cognito_error(err) from None
    return session_from(
        answer["AuthenticationResult"],
        api_url=session.api_url,
        region=session.region,
        pool_id=session.user_pool_id,
        client_id=session.client_id,
        username=session.username,
        stack=session.stack,
        now=now,
        refresh_token=session.refresh_token,
    )


def cognito_client(region: str) -> Any:
    """An unsigned cognito-idp client: sign-in and refresh need no AWS credentials."""
    import boto3  # noqa: PLC0415 - only sign-in and refresh load the SDK
    from botocore import UNSIGNED  # noqa: PLC0415
    from botocore.config import Config  # noqa: PLC0415

    return boto3.client("cognito-idp", region_name=region, config=Config(signature_version=UNSIGNED))


def bearer_token(
    session: Session,
    store: TokenStore,
    *,
    now: Callable[[], float] = time.time,
    client_for: Callable[[str], Any] = cognito_client,
) -> str:
    """The session's ID token, refreshed (and cached again) when it has expired."""
    if session.expired(now()):
        session = refresh(client_for(session.region), session, now())
        store.put(session)
    return session.id_token
