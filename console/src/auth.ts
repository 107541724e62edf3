// Sign-in of the deployed console (served from CloudFront): the Cognito hosted UI with the authorization code grant
// and PKCE (RFC 7636, S256). `drwave console publish` writes /ui/config.json with the API URL and the hosted UI's
// domain and app client; `drwave serve` has no such file, and the page keeps its local identity switch.
// Tokens live in this tab's sessionStorage only (gone with the tab), never in localStorage or a cookie.

export interface CognitoConfig {
  domain: string;
  clientId: string;
  redirectUri: string;
  scopes: string[];
}

export interface ConsoleConfig {
  apiUrl: string;
  cognito: CognitoConfig;
}

interface Tokens {
  idToken: string;
  accessToken: string;
  refreshToken: string | null;
  expiresAt: number; // epoch ms
}

const CONFIG_PATH = "/ui/config.json";
const VERIFIER_KEY = "drwave.pkce.verifier";
const STATE_KEY = "drwave.pkce.state";
const TOKENS_KEY = "drwave.tokens";
const REFRESH_MARGIN_MS = 60_000; // renew a token about to expire rather than send one the API refuses mid-request

let deployedConfig: ConsoleConfig | null = null;

// --- PKCE helpers (pure; tested against RFC 7636's example) ---------------------------------------------------

export function base64url(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A code_verifier: 32 random bytes, base64url (43 characters of the unreserved set). */
export function randomVerifier(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

/** The S256 code_challenge of a verifier: base64url(SHA-256(ASCII(verifier))). */
export async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

/** The hosted UI's authorize URL for one sign-in attempt. */
export function authorizeUrl(cognito: CognitoConfig, state: string, challenge: string): string {
  const query = new URLSearchParams({
    response_type: "code",
    client_id: cognito.clientId,
    redirect_uri: cognito.redirectUri,
    scope: cognito.scopes.join(" "),
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  return `https://${cognito.domain}/oauth2/authorize?${query}`;
}

// --- configuration --------------------------------------------------------------------------------------------

function isConfig(value: any): value is ConsoleConfig {
  const c = value?.cognito;
  return (
    typeof value?.apiUrl === "string" &&
    typeof c?.domain === "string" &&
    typeof c?.clientId === "string" &&
    typeof c?.redirectUri === "string" &&
    Array.isArray(c?.scopes)
  );
}

/** The deployed console's configuration, or null when served by `drwave serve` (no config.json). */
export async function loadConfig(): Promise<ConsoleConfig | null> {
  try {
    const response = await fetch(CONFIG_PATH, { cache: "no-store", credentials: "same-origin" });
    const parsed = response.ok ? await response.json() : null;
    deployedConfig = isConfig(parsed) ? parsed : null;
  } catch {
    deployedConfig = null; // not JSON (an SPA fallback page) or unreachable: the local page
  }
  return deployedConfig;
}

export function deployed(): ConsoleConfig | null {
  return deployedConfig;
}

// --- tokens ---------------------------------------------------------------------------------------------------

function savedTokens(): Tokens | null {
  try {
    const raw = sessionStorage.getItem(TOKENS_KEY);
    return raw ? (JSON.parse(raw) as Tokens) : null;
  } catch {
    return null;
  }
}

function saveTokens(answer: any, previousRefresh: string | null): Tokens {
  const tokens: Tokens = {
    idToken: String(answer.id_token),
    accessToken: String(answer.access_token),
    refreshToken: answer.refresh_token ? String(answer.refresh_token) : previousRefresh, // refresh returns none
    expiresAt: Date.now() + Number(answer.expires_in ?? 3600) * 1000,
  };
  sessionStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
  return tokens;
}

async function tokenRequest(cognito: CognitoConfig, fields: Record<string, string>): Promise<any> {
  const response = await fetch(`https://${cognito.domain}/oauth2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ client_id: cognito.clientId, ...fields }),
    credentials: "omit",
    cache: "no-store",
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(`sign-in failed: ${body.error ?? `HTTP ${response.status}`}`);
  return body;
}

let leaving: Promise<void> | null = null;

/** Go to the hosted UI (once, however many calls found the tab signed out); it comes back to redirectUri with
 * ?code=...&state=... */
export function signIn(): Promise<void> {
  const config = deployedConfig;
  if (!config) return Promise.resolve();
  leaving ??= (async () => {
    const verifier = randomVerifier();
    const state = randomVerifier();
    sessionStorage.setItem(VERIFIER_KEY, verifier);
    sessionStorage.setItem(STATE_KEY, state);
    location.assign(authorizeUrl(config.cognito, state, await challengeOf(verifier)));
  })();
  return leaving;
}

/** On the way back from the hosted UI: check the state, exchange the code (with the verifier) for tokens, and
 * drop the code from the address bar. False when this page load is not a sign-in callback. */
export async function completeSignIn(): Promise<boolean> {
  const config = deployedConfig;
  const query = new URLSearchParams(location.search);
  if (!config || (!query.has("code") && !query.has("error"))) return false;
  const expectedState = sessionStorage.getItem(STATE_KEY);
  const verifier = sessionStorage.getItem(VERIFIER_KEY);
  sessionStorage.removeItem(STATE_KEY);
  sessionStorage.removeItem(VERIFIER_KEY);
  history.replaceState(null, "", location.pathname + location.hash);
  if (query.has("error")) throw new Error(`sign-in refused: ${query.get("error_description") ?? query.get("error")}`);
  if (!expectedState || query.get("state") !== expectedState || !verifier) {
    throw new Error("sign-in refused: the answer does not belong to a sign-in this tab started (state mismatch)");
  }
  const answer = await tokenRequest(config.cognito, {
    grant_type: "authorization_code",
    code: query.get("code") ?? "",
    redirect_uri: config.cognito.redirectUri,
    code_verifier: verifier,
  });
  saveTokens(answer, null);
  return true;
}

/** The ID token for the API, refreshed when it is about to expire; null when signed out. */
export async function idToken(): Promise<string | null> {
  const config = deployedConfig;
  const tokens = savedTokens();
  if (!config || !tokens) return null;
  if (Date.now() < tokens.expiresAt - REFRESH_MARGIN_MS) return tokens.idToken;
  if (!tokens.refreshToken) return null;
  try {
    const answer = await tokenRequest(config.cognito, { grant_type: "refresh_token", refresh_token: tokens.refreshToken });
    return saveTokens(answer, tokens.refreshToken).idToken;
  } catch {
    sessionStorage.removeItem(TOKENS_KEY);
    return null;
  }
}

/** Claims of the ID token (display only: the API verifies the token, the page never trusts these). */
export function idClaims(): Record<string, unknown> {
  const token = savedTokens()?.idToken;
  try {
    const payload = token?.split(".")[1] ?? "";
    const text = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(text, (c) => c.charCodeAt(0))));
  } catch {
    return {};
  }
}

/** Forget the tokens and end the hosted UI session, back to the console's URL. */
export function signOut(): void {
  const config = deployedConfig;
  sessionStorage.removeItem(TOKENS_KEY);
  if (!config) return;
  const query = new URLSearchParams({ client_id: config.cognito.clientId, logout_uri: config.cognito.redirectUri });
  location.assign(`https://${config.cognito.domain}/logout?${query}`);
}
