//! Sign-in through an OpenID Connect provider (endpoints and keys from discovery; the ID token
//! says who signed in) or a plain OAuth2 provider (GitHub style: the user-info endpoint says
//! who), both with the authorization code flow and PKCE.
//!
//! `start` keeps state, nonce and PKCE verifier in the server-side session and sends the
//! browser to the provider; `callback` takes them out again (one use only), exchanges the code,
//! checks the identity, maps it to a role, provisions the user on the first sign-in and signs
//! the session in. Forged, replayed or tampered callbacks get a 400 problem; failures of the
//! provider and refused identities go back to the sign-in page with an explanation.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::{Query, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Extension,
};
use domain::access::{
    external::{self, ExternalIdentity},
    Caller,
};
use jsonwebtoken::{
    errors::ErrorKind,
    jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse},
    Algorithm, DecodingKey, Validation,
};
use oauth2::{
    url::{self, Url},
    CsrfToken, PkceCodeChallenge,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::{OnceCell, RwLock};
use tower_sessions::Session;
use types::{Problem, Role};

use super::{
    auth::{establish_session, local_path},
    problem::{generic, problem_response, ApiError},
};
use crate::{
    config::{OidcConfig, ProviderEndpoints},
    state::AppState,
};

/// Session key of the sign-in in progress.
const FLOW_KEY: &str = "oidc_flow";
/// A sign-in must come back from the provider within this many seconds.
const FLOW_LIFETIME_SECS: i64 = 600;
/// Whole-request limit for every call to the provider.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest provider answer read (discovery, keys, tokens, user info).
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// An unknown key id refetches the key set, but not more often than this: a stream of
/// tokens with made-up key ids must not turn into a stream of requests to the provider.
const JWKS_REFETCH_FLOOR: Duration = Duration::from_secs(10);
/// Keys read from one key set at most.
const MAX_KEYS: usize = 100;
/// Longest accepted `code` and `state` in a callback.
const MAX_PARAM_BYTES: usize = 4096;
/// Signature algorithms accepted on ID tokens: asymmetric only, so no shared secret (and no
/// `none`) can ever stand in for the provider's key.
const ID_TOKEN_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// A configured identity provider: its settings, an HTTP client, and what discovery found.
pub struct Oidc {
    config: OidcConfig,
    http: reqwest::Client,
    /// Fixed for plain OAuth2; discovered on first use for OpenID Connect. A failed discovery
    /// is not remembered, so the next sign-in tries again.
    endpoints: OnceCell<Arc<Endpoints>>,
    keys: RwLock<Option<KeySet>>,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // By hand: the configuration holds the client secret.
        f.debug_struct("Oidc")
            .field("endpoints", &self.config.endpoints)
            .field("client_id", &self.config.client_id)
            .field("display_name", &self.config.display_name)
            .finish_non_exhaustive()
    }
}

/// Where the provider's endpoints are and how to talk to them.
#[derive(Debug)]
struct Endpoints {
    authorize: Url,
    token: Url,
    userinfo: Option<Url>,
    /// OpenID Connect only: who signs ID tokens, and where the keys are.
    id_tokens: Option<IdTokenIssuer>,
    /// Client authentication at the token endpoint: HTTP Basic, else form fields.
    basic_auth: bool,
    /// The provider's name in stored subjects (`issuer|sub`).
    provider: String,
}

#[derive(Debug)]
struct IdTokenIssuer {
    issuer: String,
    jwks_uri: Url,
}

struct KeySet {
    keys: Vec<Jwk>,
    fetched: Instant,
}

/// The part of the discovery document used here.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: Option<String>,
    jwks_uri: String,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Vec<String>,
}

/// A sign-in in progress, kept in the session between `start` and `callback`.
#[derive(Serialize, Deserialize)]
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    next: String,
    /// Unix seconds.
    created_at: i64,
}

/// The token endpoint's answer. No `Debug`: it holds tokens.
#[derive(Deserialize)]
struct Tokens {
    access_token: String,
    token_type: Option<String>,
    id_token: Option<String>,
}

/// Why a callback did not sign anybody in.
enum Failure {
    /// The callback is not acceptable (forged, replayed, expired, tampered): a 400 problem.
    Bad { kind: &'static str, detail: String },
    /// The provider failed or answered nonsense (logged): back to the sign-in page.
    Provider(String),
    /// Our own failure, already a response.
    Internal(Response),
}

fn bad(kind: &'static str, detail: &str) -> Failure {
    Failure::Bad {
        kind,
        detail: detail.to_owned(),
    }
}

fn bad_id_token(why: &str) -> Failure {
    Failure::Bad {
        kind: "oidc-id-token",
        detail: format!("The identity provider's ID token {why}; sign-in refused."),
    }
}

impl Oidc {
    /// Prepares the provider from configuration (no network I/O here).
    pub fn new(config: OidcConfig) -> Result<Self, String> {
        // Several crates could supply rustls' cryptography; ring is the one built here. A
        // provider installed before (by another client) is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .connect_timeout(HTTP_TIMEOUT)
            // A provider's endpoints answer directly; following redirects would only let a
            // compromised answer point this server elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mcp-orchestrator/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("auth.oidc: cannot build the HTTP client: {e}"))?;
        endpoint_url(&config.redirect_url, "auth.oidc.redirect_url")?;
        let endpoints = match &config.endpoints {
            ProviderEndpoints::Discovery { issuer } => {
                endpoint_url(&discovery_url(issuer), "auth.oidc.issuer_url")?;
                OnceCell::new()
            }
            ProviderEndpoints::Manual {
                authorize_url,
                token_url,
                userinfo_url,
            } => {
                let authorize = endpoint_url(authorize_url, "auth.oidc.authorize_url")?;
                OnceCell::new_with(Some(Arc::new(Endpoints {
                    provider: authorize.origin().ascii_serialization(),
                    authorize,
                    token: endpoint_url(token_url, "auth.oidc.token_url")?,
                    userinfo: Some(endpoint_url(userinfo_url, "auth.oidc.userinfo_url")?),
                    id_tokens: None,
                    // GitHub and its kind read the client's credentials from the form.
                    basic_auth: false,
                })))
            }
        };
        Ok(Self {
            config,
            http,
            endpoints,
            keys: RwLock::new(None),
        })
    }

    /// Label of the sign-in button.
    pub fn display_name(&self) -> &str {
        &self.config.display_name
    }

    async fn endpoints(&self) -> Result<Arc<Endpoints>, String> {
        self.endpoints
            .get_or_try_init(|| self.discover())
            .await
            .cloned()
    }

    async fn discover(&self) -> Result<Arc<Endpoints>, String> {
        let ProviderEndpoints::Discovery { issuer } = &self.config.endpoints else {
            return Err("no discovery for a plain OAuth2 provider".into());
        };
        let url = discovery_url(issuer);
        let (status, body) = self
            .send(
                self.http
                    .get(&url)
                    .header(header::ACCEPT, "application/json"),
            )
            .await?;
        if !status.is_success() {
            return Err(format!("discovery at {url} answered {status}"));
        }
        let doc: Discovery = serde_json::from_value(body)
            .map_err(|e| format!("discovery document at {url} is not usable: {e}"))?;
        // OpenID Connect Discovery 1.0, 4.3: the document must name the issuer it was
        // fetched for, or another issuer's keys could vouch for its tokens.
        if doc.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(format!(
                "discovery at {url} names the issuer {:?}, not {issuer:?}",
                doc.issuer
            ));
        }
        let methods = &doc.token_endpoint_auth_methods_supported;
        let post_only = methods.iter().any(|m| m == "client_secret_post")
            && !methods.iter().any(|m| m == "client_secret_basic");
        Ok(Arc::new(Endpoints {
            authorize: endpoint_url(&doc.authorization_endpoint, "authorization_endpoint")?,
            token: endpoint_url(&doc.token_endpoint, "token_endpoint")?,
            userinfo: doc
                .userinfo_endpoint
                .as_deref()
                .map(|u| endpoint_url(u, "userinfo_endpoint"))
                .transpose()?,
            id_tokens: Some(IdTokenIssuer {
                jwks_uri: endpoint_url(&doc.jwks_uri, "jwks_uri")?,
                issuer: doc.issuer.clone(),
            }),
            basic_auth: !post_only,
            provider: doc.issuer,
        }))
    }

    /// Sends `req` and reads at most [`MAX_RESPONSE_BYTES`] of JSON (`Null` when an error
    /// answer is not JSON).
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<(StatusCode, Value), String> {
        let mut res = req
            .send()
            .await
            .map_err(|e| format!("request to the identity provider failed: {e}"))?;
        let status = res.status();
        if res
            .content_length()
            .is_some_and(|l| l > MAX_RESPONSE_BYTES as u64)
        {
            return Err(format!("{} answered more than 1 MiB", res.url()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| format!("reading the identity provider's answer failed: {e}"))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(format!("{} answered more than 1 MiB", res.url()));
            }
            body.extend_from_slice(&chunk);
        }
        match serde_json::from_slice(&body) {
            Ok(v) => Ok((status, v)),
            Err(_) if !status.is_success() => Ok((status, Value::Null)),
            Err(e) => Err(format!("{} answered {status} without JSON: {e}", res.url())),
        }
    }

    /// The provider's authorize URL for `flow`.
    fn authorize_url(
        &self,
        endpoints: &Endpoints,
        flow: &Flow,
        challenge: &PkceCodeChallenge,
    ) -> Url {
        let mut url = endpoints.authorize.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &self.config.client_id)
                .append_pair("redirect_uri", &self.config.redirect_url)
                .append_pair("scope", &self.config.scopes.join(" "))
                .append_pair("state", &flow.state);
            if endpoints.id_tokens.is_some() {
                q.append_pair("nonce", &flow.nonce);
            }
            q.append_pair("code_challenge", challenge.as_str())
                .append_pair("code_challenge_method", challenge.method().as_str());
        }
        url
    }

    /// Trades `code` (with the PKCE verifier) for tokens.
    async fn exchange(
        &self,
        endpoints: &Endpoints,
        code: &str,
        verifier: &str,
    ) -> Result<Tokens, Failure> {
        let client_id = self.config.client_id.as_str();
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.config.redirect_url.as_str()),
            ("code_verifier", verifier),
            ("client_id", client_id),
        ];
        let mut req = self
            .http
            .post(endpoints.token.clone())
            .header(header::ACCEPT, "application/json");
        match (&self.config.client_secret, endpoints.basic_auth) {
            // RFC 6749, 2.3.1: both parts form-encoded before they go into the header.
            (Some(secret), true) => {
                req = req.basic_auth(form_encode(client_id), Some(form_encode(secret)))
            }
            (Some(secret), false) => form.push(("client_secret", secret.as_str())),
            (None, _) => {}
        }
        let (status, body) = self
            .send(req.form(&form))
            .await
            .map_err(Failure::Provider)?;
        // GitHub answers errors with 200 and an `error` field; everybody else with 400/401.
        let error = body.get("error").and_then(Value::as_str);
        if status.is_success() && error.is_none() {
            let tokens: Tokens = serde_json::from_value(body).map_err(|e| {
                Failure::Provider(format!("the token endpoint's answer is not usable: {e}"))
            })?;
            if tokens
                .token_type
                .as_deref()
                .is_some_and(|t| !t.eq_ignore_ascii_case("bearer"))
            {
                return Err(Failure::Provider(
                    "the token endpoint issued no bearer token".into(),
                ));
            }
            return Ok(tokens);
        }
        let error = error.unwrap_or("");
        let ours = matches!(
            error,
            "invalid_client"
                | "unauthorized_client"
                | "unsupported_grant_type"
                | "incorrect_client_credentials"
                | "redirect_uri_mismatch"
        );
        if ours || status.is_server_error() || status == StatusCode::UNAUTHORIZED {
            return Err(Failure::Provider(format!(
                "the token endpoint refused this client ({status} {error}); check auth.oidc.client_id, client_secret and redirect_url"
            )));
        }
        Err(bad(
            "oidc-code",
            "The identity provider refused the authorization code: it was already used, has expired, or was not issued for this sign-in. Start the sign-in again.",
        ))
    }

    /// Checks the ID token (signature, issuer, audience, expiry, nonce) and returns its claims.
    async fn verify_id_token(
        &self,
        issuer: &IdTokenIssuer,
        token: &str,
        nonce: &str,
    ) -> Result<Map<String, Value>, Failure> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| bad_id_token("is not a JWT"))?;
        if !ID_TOKEN_ALGORITHMS.contains(&header.alg) {
            return Err(bad_id_token(
                "is signed with an algorithm this server does not accept",
            ));
        }
        let key = self
            .decoding_key(issuer, header.kid.as_deref(), header.alg)
            .await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&issuer.issuer]);
        validation.set_audience(&[&self.config.client_id]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 60;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| {
                bad_id_token(match e.kind() {
                    ErrorKind::ExpiredSignature => "has expired",
                    ErrorKind::ImmatureSignature => "is not valid yet",
                    ErrorKind::InvalidIssuer => "comes from another issuer",
                    ErrorKind::InvalidAudience => "was issued for another client",
                    ErrorKind::InvalidSignature => "has an invalid signature",
                    ErrorKind::MissingRequiredClaim(_) => "lacks a required claim",
                    _ => "could not be verified",
                })
            })?
            .claims;
        if claims
            .get("azp")
            .and_then(Value::as_str)
            .is_some_and(|azp| azp != self.config.client_id)
        {
            return Err(bad_id_token("was issued for another client"));
        }
        match claims.get("nonce").and_then(Value::as_str) {
            Some(n) if constant_time_eq(n, nonce) => Ok(claims),
            _ => Err(bad(
                "oidc-nonce",
                "The ID token's nonce does not match this sign-in (a replayed or substituted token). Start the sign-in again.",
            )),
        }
    }

    /// The key for `kid` and `alg`: from the cached key set, else from a fresh one.
    async fn decoding_key(
        &self,
        issuer: &IdTokenIssuer,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, Failure> {
        let unknown = || bad_id_token("is signed with a key the provider does not publish");
        if let Some(cached) = self.keys.read().await.as_ref() {
            if let Some(key) = pick_key(&cached.keys, kid, alg) {
                return Ok(key);
            }
            if cached.fetched.elapsed() < JWKS_REFETCH_FLOOR {
                return Err(unknown());
            }
        }
        let (status, body) = self
            .send(
                self.http
                    .get(issuer.jwks_uri.clone())
                    .header(header::ACCEPT, "application/json"),
            )
            .await
            .map_err(Failure::Provider)?;
        if !status.is_success() {
            return Err(Failure::Provider(format!(
                "the key set at {} answered {status}",
                issuer.jwks_uri
            )));
        }
        // Key by key: one key of a type this library cannot read must not hide the others.
        let keys: Vec<Jwk> = body
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| Failure::Provider(format!("{} holds no key set", issuer.jwks_uri)))?
            .iter()
            .take(MAX_KEYS)
            .filter_map(|k| serde_json::from_value(k.clone()).ok())
            .collect();
        let key = pick_key(&keys, kid, alg);
        *self.keys.write().await = Some(KeySet {
            keys,
            fetched: Instant::now(),
        });
        key.ok_or_else(unknown)
    }

    /// GETs the user-info endpoint with the access token.
    async fn userinfo(&self, url: &Url, access_token: &str) -> Result<Map<String, Value>, String> {
        let (status, body) = self
            .send(
                self.http
                    .get(url.clone())
                    .bearer_auth(access_token)
                    .header(header::ACCEPT, "application/json"),
            )
            .await?;
        if !status.is_success() {
            return Err(format!("the user-info endpoint answered {status}"));
        }
        match body {
            Value::Object(m) => Ok(m),
            _ => Err("the user-info endpoint answered no JSON object".into()),
        }
    }

    /// Everything between a valid-looking callback and a signed-in session.
    async fn finish(
        &self,
        state: &AppState,
        caller: &Caller,
        session: &Session,
        flow: Option<Flow>,
        q: CallbackQuery,
    ) -> Result<Response, Failure> {
        let present = |v: Option<String>| v.filter(|v| !v.is_empty() && v.len() <= MAX_PARAM_BYTES);
        let (Some(code), Some(returned_state)) = (present(q.code), present(q.state)) else {
            return Err(bad(
                "oidc-callback",
                "The callback carries no valid authorization code or state. Start the sign-in again.",
            ));
        };
        let Some(flow) = flow else {
            return Err(bad(
                "oidc-state",
                "No sign-in is waiting in this browser session: the callback was already used, or it belongs to another session. Start the sign-in again.",
            ));
        };
        if !constant_time_eq(&returned_state, &flow.state) {
            return Err(bad(
                "oidc-state",
                "The state does not match the sign-in this browser started (a forged or stale callback). Start the sign-in again.",
            ));
        }
        let age = chrono::Utc::now().timestamp() - flow.created_at;
        if !(-60..=FLOW_LIFETIME_SECS).contains(&age) {
            return Err(bad(
                "oidc-state",
                "The sign-in took longer than 10 minutes. Start the sign-in again.",
            ));
        }
        let endpoints = self.endpoints().await.map_err(Failure::Provider)?;
        let tokens = self.exchange(&endpoints, &code, &flow.verifier).await?;
        let claims = match &endpoints.id_tokens {
            Some(issuer) => {
                let id_token = tokens.id_token.as_deref().ok_or_else(|| {
                    Failure::Provider("the token endpoint issued no ID token".into())
                })?;
                let mut claims = self.verify_id_token(issuer, id_token, &flow.nonce).await?;
                self.complete_from_userinfo(&endpoints, &tokens, &mut claims)
                    .await;
                claims
            }
            None => {
                let url = endpoints.userinfo.as_ref().ok_or_else(|| {
                    Failure::Provider("no user-info endpoint is configured".into())
                })?;
                self.userinfo(url, &tokens.access_token)
                    .await
                    .map_err(Failure::Provider)?
            }
        };
        let plain = endpoints.id_tokens.is_none();
        let profile = Profile::from_claims(&claims, plain).ok_or_else(|| {
            Failure::Provider("the provider named no subject for the user".into())
        })?;
        let identity = ExternalIdentity {
            issuer: endpoints.provider.clone(),
            subject: profile.subject.clone(),
            email: profile.email.clone(),
            username_hint: profile.username.clone(),
            display_name: profile.name.clone(),
        };
        let next = local_path(Some(&flow.next));
        let role = match decide(&self.config, &profile, &claims) {
            Ok(role) => role,
            Err(reason) => {
                tracing::info!(reason, provider = %identity.issuer, "identity-provider sign-in refused");
                if let Err(e) = external::record_denied(&state.ctx, caller, &identity, reason).await
                {
                    return Ok(ApiError::from(e).into_response());
                }
                return Ok(login_redirect("denied", &next));
            }
        };
        match external::sign_in_external(&state.ctx, caller, identity, role).await {
            Ok(principal) => {
                if let Err(res) = establish_session(session, &principal.id).await {
                    return Err(Failure::Internal(res));
                }
                tracing::info!(user = %principal.name, role = %principal.role, "signed in through the identity provider");
                Ok(Redirect::to(&next).into_response())
            }
            Err(domain::DomainError::Forbidden(why)) => {
                tracing::info!(reason = %why, "identity-provider sign-in refused");
                Ok(login_redirect("denied", &next))
            }
            Err(e) => Ok(ApiError::from(e).into_response()),
        }
    }

    /// OpenID Connect providers may keep the e-mail or the role claim out of the ID token;
    /// the user-info endpoint has them. Only an answer about the same `sub` is used
    /// (OpenID Connect Core 1.0, 5.3.2), and only for claims the ID token lacks.
    async fn complete_from_userinfo(
        &self,
        endpoints: &Endpoints,
        tokens: &Tokens,
        claims: &mut Map<String, Value>,
    ) {
        let wants_role = self
            .config
            .role_claim
            .as_deref()
            .is_some_and(|c| claim(claims, c).is_none());
        let Some(url) = endpoints.userinfo.as_ref() else {
            return;
        };
        if claims.contains_key("email") && !wants_role {
            return;
        }
        match self.userinfo(url, &tokens.access_token).await {
            Ok(info) if info.get("sub") == claims.get("sub") => {
                for (k, v) in info {
                    claims.entry(k).or_insert(v);
                }
            }
            Ok(_) => tracing::warn!("the user-info answer is about another subject; ignored"),
            Err(e) => tracing::warn!(error = %e, "user info unavailable; using the ID token alone"),
        }
    }
}

/// What the provider says about the user, reduced to what the orchestrator uses.
#[derive(Debug, Default)]
struct Profile {
    subject: String,
    /// Only a verified-looking address (not `email_verified: false`, one `@`, both sides).
    email: Option<String>,
    username: Option<String>,
    name: Option<String>,
}

impl Profile {
    /// `plain`: a plain OAuth2 user-info answer, whose id is GitHub's numeric `id` or `sub`.
    fn from_claims(claims: &Map<String, Value>, plain: bool) -> Option<Self> {
        let text = |k: &str| {
            claims
                .get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let subject = if plain {
            match claims.get("id") {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => text("sub"),
            }
        } else {
            text("sub")
        }?;
        let verified = match claims.get("email_verified") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => true,
        };
        let email = text("email").filter(|e| verified && looks_like_email(e));
        Some(Self {
            subject,
            email,
            username: text("preferred_username").or_else(|| text("login")),
            name: text("name"),
        })
    }
}

fn looks_like_email(e: &str) -> bool {
    match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !e.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// The role for `profile`, or why it is not let in. With allowed users or domains configured,
/// the identity must match one; then the role claim decides, else the default role.
fn decide(
    config: &OidcConfig,
    profile: &Profile,
    claims: &Map<String, Value>,
) -> Result<Role, &'static str> {
    if !config.allowed_users.is_empty() || !config.allowed_domains.is_empty() {
        let email = profile.email.as_deref().map(str::to_ascii_lowercase);
        let username = profile.username.as_deref().map(str::to_ascii_lowercase);
        let listed =
            |v: &Option<String>| v.as_ref().is_some_and(|v| config.allowed_users.contains(v));
        let domain = email
            .as_deref()
            .and_then(|e| e.rsplit_once('@'))
            .map(|(_, d)| d.to_owned());
        let in_domain = domain
            .as_ref()
            .is_some_and(|d| config.allowed_domains.contains(d));
        if !(listed(&email) || listed(&username) || in_domain) {
            return Err("not among the allowed users or domains");
        }
    }
    config
        .role_claim
        .as_deref()
        .and_then(|c| claim(claims, c))
        .and_then(role_of)
        .or(config.default_role)
        .ok_or("no role: the role claim is missing or invalid and there is no default role")
}

/// The claim `name`: a top-level claim of that exact name (URLs with dots are common claim
/// names), else a dotted path into nested objects (`realm_access.roles`).
fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    claims.get(name).or_else(|| {
        let mut parts = name.split('.');
        let first = claims.get(parts.next()?)?;
        parts.try_fold(first, |v, p| v.get(p))
    })
}

/// A role from a claim value: a role name, or the highest role in a list of names.
fn role_of(v: &Value) -> Option<Role> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .filter_map(|s| s.parse().ok())
            .max(),
        _ => None,
    }
}

fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    )
}

/// A provider URL: https, or plain http on loopback only (tests, local providers).
fn endpoint_url(raw: &str, what: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("{what}: {raw:?} is not a URL: {e}"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(format!(
            "{what}: {raw:?} must be https:// (plain http only on loopback)"
        )),
    }
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Equal strings, compared without an early exit (the length is not secret).
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn login_redirect(error: &str, next: &str) -> Response {
    let next = form_encode(next);
    Redirect::to(&format!("/login?error={error}&next={next}")).into_response()
}

fn not_configured() -> Response {
    problem_response(
        generic(StatusCode::NOT_FOUND)
            .with_detail("No identity provider is configured on this server."),
    )
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Query of `GET /auth/oidc/start`.
#[derive(Debug, serde::Deserialize)]
pub struct StartQuery {
    /// Where to go after signing in (a local path).
    pub next: Option<String>,
}

/// Query of `GET /auth/oidc/callback` (what the provider sends back).
#[derive(Debug, serde::Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// `GET /auth/oidc/start`: redirects to the provider.
pub async fn start(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<StartQuery>,
) -> Response {
    let Some(oidc) = state.oidc.clone() else {
        return not_configured();
    };
    let next = local_path(q.next.as_deref());
    let endpoints = match oidc.endpoints().await {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "identity provider unavailable");
            return login_redirect("sso", &next);
        }
    };
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let flow = Flow {
        state: CsrfToken::new_random().secret().clone(),
        nonce: CsrfToken::new_random().secret().clone(),
        verifier: verifier.secret().clone(),
        next,
        created_at: chrono::Utc::now().timestamp(),
    };
    let url = oidc.authorize_url(&endpoints, &flow, &challenge);
    if let Err(e) = session.insert(FLOW_KEY, flow).await {
        tracing::error!(error = %e, "session write failed");
        return ApiError::Internal("session".into()).into_response();
    }
    no_store(Redirect::to(url.as_str()).into_response())
}

/// `GET /auth/oidc/callback`: finishes the sign-in.
pub async fn callback(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    session: Session,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let Some(oidc) = state.oidc.clone() else {
        return not_configured();
    };
    // Whatever happens next, this flow is spent: taken out and written back before the code
    // goes anywhere, so a replayed callback finds nothing, even with the old cookie.
    let flow = match session.remove_value(FLOW_KEY).await {
        Ok(Some(v)) => {
            if let Err(e) = session.save().await {
                tracing::error!(error = %e, "session write failed");
                return ApiError::Internal("session".into()).into_response();
            }
            serde_json::from_value::<Flow>(v).ok()
        }
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, "session read failed");
            return ApiError::Internal("session".into()).into_response();
        }
    };
    let next = local_path(flow.as_ref().map(|f| f.next.as_str()));
    if let Some(error) = q.error.as_deref() {
        let error: String = error.chars().take(64).collect();
        tracing::info!(error = %error, "the identity provider answered the sign-in with an error");
        return no_store(login_redirect("sso", &next));
    }
    let res = match oidc.finish(&state, &caller, &session, flow, q).await {
        Ok(res) => res,
        Err(Failure::Bad { kind, detail }) => {
            tracing::info!(problem = kind, "identity-provider callback refused");
            problem_response(
                Problem::new(400, "Bad Request")
                    .with_type(kind)
                    .with_detail(detail),
            )
        }
        Err(Failure::Provider(why)) => {
            tracing::error!(error = %why, "sign-in through the identity provider failed");
            login_redirect("sso", &next)
        }
        Err(Failure::Internal(res)) => res,
    };
    no_store(res)
}

/// The key in `keys` for `kid` (any key when the token names none) that suits `alg`.
fn pick_key(keys: &[Jwk], kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
    keys.iter()
        .filter(|k| kid.is_none_or(|kid| k.common.key_id.as_deref() == Some(kid)))
        .filter(|k| !matches!(k.common.public_key_use, Some(PublicKeyUse::Encryption)))
        .filter(|k| {
            k.common
                .key_algorithm
                .is_none_or(|a| a.to_string() == format!("{alg:?}"))
        })
        .filter(|k| suits(&k.algorithm, alg))
        .find_map(|k| DecodingKey::from_jwk(k).ok())
}

fn suits(params: &AlgorithmParameters, alg: Algorithm) -> bool {
    use Algorithm as A;
    match params {
        AlgorithmParameters::RSA(_) => matches!(
            alg,
            A::RS256 | A::RS384 | A::RS512 | A::PS256 | A::PS384 | A::PS512
        ),
        AlgorithmParameters::EllipticCurve(p) => matches!(
            (&p.curve, alg),
            (EllipticCurve::P256, A::ES256) | (EllipticCurve::P384, A::ES384)
        ),
        AlgorithmParameters::OctetKeyPair(_) => alg == A::EdDSA,
        AlgorithmParameters::OctetKey(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn config() -> OidcConfig {
        OidcConfig {
            endpoints: ProviderEndpoints::Discovery {
                issuer: "https://id.example.com".into(),
            },
            client_id: "mcpo".into(),
            client_secret: Some("s3cret".into()),
            scopes: vec!["openid".into(), "email".into()],
            redirect_url: "https://mcpo.example.com/auth/oidc/callback".into(),
            display_name: "Example".into(),
            allowed_domains: vec![],
            allowed_users: vec![],
            role_claim: None,
            default_role: None,
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn profile_of(v: &Map<String, Value>) -> Profile {
        Profile::from_claims(v, false).unwrap()
    }

    #[test]
    fn roles_come_from_the_claim_then_the_default() {
        let mut c = config();
        let ada = claims(json!({"sub": "1", "email": "ada@example.com", "mcpo_role": "admin"}));
        assert!(
            decide(&c, &profile_of(&ada), &ada).is_err(),
            "no default role, no claim"
        );
        c.default_role = Some(Role::Viewer);
        assert_eq!(decide(&c, &profile_of(&ada), &ada), Ok(Role::Viewer));
        c.role_claim = Some("mcpo_role".into());
        assert_eq!(decide(&c, &profile_of(&ada), &ada), Ok(Role::Admin));
        let bogus = claims(json!({"sub": "1", "mcpo_role": "root"}));
        assert_eq!(decide(&c, &profile_of(&bogus), &bogus), Ok(Role::Viewer));
        c.default_role = None;
        assert!(decide(&c, &profile_of(&bogus), &bogus).is_err());
        c.role_claim = Some("realm_access.roles".into());
        let nested =
            claims(json!({"sub": "1", "realm_access": {"roles": ["x", "viewer", "operator"]}}));
        assert_eq!(
            decide(&c, &profile_of(&nested), &nested),
            Ok(Role::Operator)
        );
        c.role_claim = Some("https://example.com/role".into());
        let url_named = claims(json!({"sub": "1", "https://example.com/role": "operator"}));
        assert_eq!(
            decide(&c, &profile_of(&url_named), &url_named),
            Ok(Role::Operator)
        );
    }

    #[test]
    fn allow_lists_admit_only_matching_identities() {
        let mut c = config();
        c.default_role = Some(Role::Viewer);
        c.allowed_domains = vec!["example.com".into()];
        c.allowed_users = vec!["octocat".into(), "guest@other.org".into()];
        let ok = |v: Value| {
            let m = claims(v);
            decide(&c, &profile_of(&m), &m).is_ok()
        };
        assert!(ok(json!({"sub": "1", "email": "Ada@Example.COM"})));
        assert!(ok(json!({"sub": "1", "email": "guest@other.org"})));
        assert!(ok(json!({"sub": "1", "preferred_username": "OctoCat"})));
        assert!(!ok(json!({"sub": "1", "email": "eve@evil.test"})));
        assert!(!ok(
            json!({"sub": "1", "email": "eve@example.com.evil.test"})
        ));
        assert!(!ok(json!({"sub": "1"})));
        assert!(
            !ok(json!({"sub": "1", "email": "ada@example.com", "email_verified": false})),
            "an unverified address proves nothing"
        );
    }

    #[test]
    fn plain_oauth2_profiles_use_the_numeric_id() {
        let gh =
            claims(json!({"id": 583231, "login": "octocat", "name": "The Octocat", "email": null}));
        let p = Profile::from_claims(&gh, true).unwrap();
        assert_eq!(p.subject, "583231");
        assert_eq!(p.username.as_deref(), Some("octocat"));
        assert_eq!(p.email, None);
        assert!(Profile::from_claims(&gh, false).is_none(), "OIDC needs sub");
    }

    #[test]
    fn helpers() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
        assert!(endpoint_url("https://id.example.com/a", "x").is_ok());
        assert!(endpoint_url("http://127.0.0.1:3766/a", "x").is_ok());
        assert!(endpoint_url("http://localhost/a", "x").is_ok());
        assert!(endpoint_url("http://id.example.com/a", "x").is_err());
        assert!(endpoint_url("ftp://id.example.com/a", "x").is_err());
        assert_eq!(
            discovery_url("https://id.example.com/realms/x/"),
            "https://id.example.com/realms/x/.well-known/openid-configuration"
        );
    }

    #[test]
    fn authorize_url_carries_pkce_state_and_nonce_and_debug_hides_the_secret() {
        let oidc = Oidc::new(config()).unwrap();
        assert!(!format!("{oidc:?}").contains("s3cret"));
        let endpoints = Endpoints {
            authorize: Url::parse("https://id.example.com/authorize?prompt=login").unwrap(),
            token: Url::parse("https://id.example.com/token").unwrap(),
            userinfo: None,
            id_tokens: Some(IdTokenIssuer {
                issuer: "https://id.example.com".into(),
                jwks_uri: Url::parse("https://id.example.com/jwks").unwrap(),
            }),
            basic_auth: true,
            provider: "https://id.example.com".into(),
        };
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let flow = Flow {
            state: "st".into(),
            nonce: "no".into(),
            verifier: verifier.secret().clone(),
            next: "/".into(),
            created_at: 0,
        };
        let url = oidc.authorize_url(&endpoints, &flow, &challenge);
        let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(q["prompt"], "login");
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["client_id"], "mcpo");
        assert_eq!(q["scope"], "openid email");
        assert_eq!(q["state"], "st");
        assert_eq!(q["nonce"], "no");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["code_challenge"], challenge.as_str());
        assert!(!url.as_str().contains(verifier.secret()));
    }
}
