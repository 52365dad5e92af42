//! `bearertokenauth`: a static bearer token, as the Collector's contrib extension of that name.
//!
//! One extension serves both sides. A receiver protocol that names it
//! (`protocols::grpc::auth::authenticator: bearertokenauth`) refuses every request whose
//! `Authorization` header is not `Bearer <an accepted token>`; an exporter that names it
//! (`auth::authenticator: bearertokenauth`) sends that header on every request.
//!
//! Keys: `scheme` (default `Bearer`; empty sends the bare token), `header` (default
//! `Authorization`), and exactly one of `token`, `tokens` (several accepted tokens, for a
//! rotation; a client sends the first) or `filename` (one token per line, read at start and
//! again whenever the file changes, so a token can be rotated without a restart).
//!
//! Tokens are compared in constant time and never logged.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use kafka_obs_api::auth::constant_time_eq;
use kafka_obs_api::{
    AuthCapability, AuthError, Authenticator, BuildContext, BuildError, Capability,
    ComponentConfig, ComponentConfigError, Extension, ExtensionConfig, ExtensionFactory,
    FactoryMeta, RunContext, RunError, Stability, parse_component_config,
};

/// Makes `bearertokenauth` extensions.
pub static FACTORY: ExtensionFactory = ExtensionFactory::new(
    FactoryMeta {
        type_name: "bearertokenauth",
        aliases: &[],
        stability: Stability::Alpha,
        kinds: &[],
        description: "Bearer token authentication: receivers check it, exporters send it (token, tokens or a watched file)",
    },
    |config| Ok(Box::new(BearerTokenAuthConfig::parse(config)?)),
)
.providing(&[Capability::Auth]);

/// How often a `filename` is checked for a new token.
const FILE_POLL: Duration = Duration::from_secs(1);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    scheme: String,
    header: String,
    token: Option<String>,
    tokens: Option<Vec<String>>,
    filename: Option<PathBuf>,
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            scheme: "Bearer".into(),
            header: "Authorization".into(),
            token: None,
            tokens: None,
            filename: None,
        }
    }
}

/// Where the accepted tokens come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `token` or `tokens`.
    Inline(Vec<String>),
    /// `filename`: one token per line.
    File(PathBuf),
}

/// The validated configuration of a `bearertokenauth` extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerTokenAuthConfig {
    pub scheme: String,
    pub header: HeaderName,
    pub source: TokenSource,
}

fn check_token(key: &str, token: &str) -> Result<(), ComponentConfigError> {
    if token.is_empty() {
        return Err(ComponentConfigError::new(key, "must not be empty"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ComponentConfigError::new(
            key,
            "a token is printable ASCII without spaces",
        ));
    }
    Ok(())
}

impl BearerTokenAuthConfig {
    pub fn parse(value: &serde_yaml_ng::Value) -> Result<Self, ComponentConfigError> {
        let raw: RawConfig = parse_component_config(value)?;
        if raw
            .scheme
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ComponentConfigError::new(
                "scheme",
                "must be one word, such as Bearer (or empty to send the bare token)",
            ));
        }
        let header = HeaderName::from_bytes(raw.header.as_bytes()).map_err(|_| {
            ComponentConfigError::new(
                "header",
                format!("{:?} is not an HTTP header name", raw.header),
            )
        })?;
        let source = match (raw.token, raw.tokens, raw.filename) {
            (Some(t), None, None) => {
                check_token("token", &t)?;
                TokenSource::Inline(vec![t])
            }
            (None, Some(list), None) => {
                if list.is_empty() {
                    return Err(ComponentConfigError::new(
                        "tokens",
                        "must list at least one token",
                    ));
                }
                for (i, t) in list.iter().enumerate() {
                    check_token(&i.to_string(), t).map_err(|e| e.within("tokens"))?;
                }
                TokenSource::Inline(list)
            }
            (None, None, Some(f)) => {
                if f.as_os_str().is_empty() {
                    return Err(ComponentConfigError::new("filename", "must not be empty"));
                }
                TokenSource::File(f)
            }
            (None, None, None) => {
                return Err(ComponentConfigError::new(
                    "token",
                    "set one of token, tokens or filename",
                ));
            }
            _ => {
                return Err(ComponentConfigError::new(
                    "",
                    "token, tokens and filename exclude each other; set one",
                ));
            }
        };
        Ok(Self {
            scheme: raw.scheme,
            header,
            source,
        })
    }
}

/// The tokens of a file: one per line, blank lines ignored.
fn read_token_file(path: &std::path::Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let tokens: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if tokens.is_empty() {
        return Err("the file holds no token".into());
    }
    if let Some(i) = tokens
        .iter()
        .position(|t| !t.bytes().all(|b| b.is_ascii_graphic()))
    {
        return Err(format!(
            "line {} is not a token (printable ASCII without spaces)",
            i + 1
        ));
    }
    Ok(tokens)
}

/// `(modified, length)`: what tells a rewritten file apart.
fn stamp(path: &std::path::Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

impl ComponentConfig for BearerTokenAuthConfig {}

impl ExtensionConfig for BearerTokenAuthConfig {
    fn build(&self, ctx: &BuildContext) -> Result<Box<dyn Extension>, BuildError> {
        let tokens = match &self.source {
            TokenSource::Inline(t) => t.clone(),
            TokenSource::File(path) => read_token_file(path).map_err(|e| {
                BuildError::Other(format!(
                    "filename: cannot read a token from {}: {e}; write the token into the file",
                    path.display()
                ))
            })?,
        };
        let auth = Arc::new(BearerTokenAuth::new(
            &self.scheme,
            self.header.clone(),
            tokens,
        ));
        Ok(Box::new(BearerTokenExtension {
            auth,
            file: match &self.source {
                TokenSource::File(p) => Some((p.clone(), stamp(p))),
                TokenSource::Inline(_) => None,
            },
            id: ctx.id.to_string(),
        }))
    }
}

/// The authenticator: accepted tokens behind a lock, so a file reload swaps them in place.
#[derive(Debug)]
pub struct BearerTokenAuth {
    /// `"Bearer"`, or empty for a bare token.
    scheme: String,
    header: HeaderName,
    tokens: RwLock<Vec<String>>,
}

impl BearerTokenAuth {
    pub fn new(scheme: &str, header: HeaderName, tokens: Vec<String>) -> Self {
        Self {
            scheme: scheme.to_string(),
            header,
            tokens: RwLock::new(tokens),
        }
    }

    fn replace(&self, tokens: Vec<String>) {
        *self.tokens.write().unwrap_or_else(|e| e.into_inner()) = tokens;
    }

    /// Checks one header value: `<scheme> <token>` (the scheme in any case), or the bare
    /// token when the scheme is empty. The small check a web API can call directly.
    pub fn check(&self, value: Option<&[u8]>) -> Result<(), AuthError> {
        let header = self.header.as_str().to_string();
        let Some(value) = value else {
            return Err(AuthError::Missing { header });
        };
        let token = if self.scheme.is_empty() {
            value
        } else {
            let n = self.scheme.len();
            let prefix_ok = value.len() > n
                && value[..n].eq_ignore_ascii_case(self.scheme.as_bytes())
                && value[n] == b' ';
            if !prefix_ok {
                return Err(AuthError::Invalid { header });
            }
            value[n + 1..].trim_ascii()
        };
        let tokens = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        // Compare against every token so the time does not tell which one matched.
        let matched = tokens
            .iter()
            .fold(false, |ok, t| constant_time_eq(t.as_bytes(), token) | ok);
        if matched {
            Ok(())
        } else {
            Err(AuthError::Invalid { header })
        }
    }
}

impl Authenticator for BearerTokenAuth {
    fn authenticate(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        self.check(headers.get(&self.header).map(HeaderValue::as_bytes))
    }

    fn client_headers(&self) -> Result<Vec<(HeaderName, HeaderValue)>, AuthError> {
        let tokens = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        let token = tokens
            .first()
            .ok_or_else(|| AuthError::Unavailable("no token to send".into()))?;
        let text = if self.scheme.is_empty() {
            token.clone()
        } else {
            format!("{} {token}", self.scheme)
        };
        let mut value = HeaderValue::from_str(&text)
            .map_err(|_| AuthError::Unavailable("the token is not a valid header value".into()))?;
        value.set_sensitive(true);
        Ok(vec![(self.header.clone(), value)])
    }
}

struct BearerTokenExtension {
    auth: Arc<BearerTokenAuth>,
    /// With `filename`: the file and its stamp when it was read at build.
    file: Option<(PathBuf, Option<(SystemTime, u64)>)>,
    id: String,
}

impl Extension for BearerTokenExtension {
    fn capability(&self) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        Some(Arc::new(AuthCapability(self.auth.clone())))
    }

    /// With `filename`: re-reads the file when it changes; a bad rewrite keeps the old tokens.
    fn run(self: Box<Self>, ctx: RunContext) -> BoxFuture<'static, Result<(), RunError>> {
        Box::pin(async move {
            let Some((path, mut seen)) = self.file else {
                ctx.shutdown.cancelled().await;
                return Ok(());
            };
            loop {
                tokio::select! {
                    () = ctx.shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(FILE_POLL) => {}
                }
                let now = stamp(&path);
                if now == seen {
                    continue;
                }
                seen = now;
                match read_token_file(&path) {
                    Ok(tokens) => {
                        self.auth.replace(tokens);
                        ctx.report_ok();
                        tracing::info!(extension = %self.id, file = %path.display(), "token file changed; tokens reloaded");
                    }
                    Err(error) => {
                        ctx.report_error(format!("token file {}: {error}", path.display()));
                        tracing::warn!(extension = %self.id, file = %path.display(), %error, "cannot reload the token file; keeping the previous tokens");
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> serde_yaml_ng::Value {
        serde_yaml_ng::from_str(s).unwrap()
    }

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn testdata_matches_the_typed_config() {
        let c =
            BearerTokenAuthConfig::parse(&yaml(include_str!("../testdata/bearertokenauth.yaml")))
                .unwrap();
        assert_eq!(c.scheme, "Bearer");
        assert_eq!(c.header, http::header::AUTHORIZATION);
        assert_eq!(
            c.source,
            TokenSource::Inline(vec!["s3cr3t-current".into(), "s3cr3t-previous".into()])
        );
        let c = BearerTokenAuthConfig::parse(&yaml("token: abc\nscheme: ''\nheader: X-Api-Key"))
            .unwrap();
        assert_eq!(c.scheme, "");
        assert_eq!(c.header.as_str(), "x-api-key");
    }

    #[test]
    fn bad_values_name_their_key() {
        let path = |s: &str| BearerTokenAuthConfig::parse(&yaml(s)).unwrap_err().path;
        assert_eq!(path("scheme: Bearer"), "token");
        assert_eq!(path("token: ''"), "token");
        assert_eq!(path("token: 'a b'"), "token");
        assert_eq!(path("tokens: []"), "tokens");
        assert_eq!(path("tokens: [ok, 'bad one']"), "tokens::1");
        assert_eq!(path("token: a\nfilename: /x"), "");
        assert_eq!(path("token: a\nscheme: 'Bear er'"), "scheme");
        assert_eq!(path("token: a\nheader: 'bad header'"), "header");
        assert_eq!(path("token: a\ntoken_file: x"), "token_file");
    }

    #[test]
    fn checks_scheme_and_token() {
        let a = BearerTokenAuth::new(
            "Bearer",
            http::header::AUTHORIZATION,
            vec!["t1".into(), "t2".into()],
        );
        assert_eq!(a.authenticate(&headers("Bearer t1")), Ok(()));
        assert_eq!(a.authenticate(&headers("bearer t2")), Ok(()));
        for bad in [
            "Bearer t3",
            "Basic t1",
            "Bearer",
            "Bearert1",
            "t1",
            "Bearer t1x",
        ] {
            assert!(
                matches!(
                    a.authenticate(&headers(bad)),
                    Err(AuthError::Invalid { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            a.authenticate(&HeaderMap::new()),
            Err(AuthError::Missing { .. })
        ));
        let sent = a.client_headers().unwrap();
        assert_eq!(sent[0].0, http::header::AUTHORIZATION);
        assert_eq!(sent[0].1, "Bearer t1");
        assert!(sent[0].1.is_sensitive());
        // The error never carries the token.
        let e = a.authenticate(&headers("Bearer wrong-secret")).unwrap_err();
        assert!(!e.to_string().contains("wrong-secret"));

        let bare = BearerTokenAuth::new("", "x-api-key".parse().unwrap(), vec!["k".into()]);
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "k".parse().unwrap());
        assert_eq!(bare.authenticate(&h), Ok(()));
        assert_eq!(bare.client_headers().unwrap()[0].1, "k");
    }

    #[tokio::test]
    async fn a_token_file_is_read_at_build_and_reloaded_when_it_changes() {
        use kafka_obs_api::ComponentKind;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        let c =
            BearerTokenAuthConfig::parse(&yaml(&format!("filename: {}", file.display()))).unwrap();
        let ctx = BuildContext::for_test(ComponentKind::Extension, "bearertokenauth", &[]);
        let e = c.build(&ctx).err().unwrap().to_string();
        assert!(e.contains("filename: cannot read a token from"), "{e}");

        std::fs::write(&file, "first\n").unwrap();
        let ext = c.build(&ctx).unwrap();
        let cap = ext
            .capability()
            .unwrap()
            .downcast::<AuthCapability>()
            .unwrap();
        assert_eq!(cap.authenticate(&headers("Bearer first")), Ok(()));
        let (run, stop) = ctx.run_for_test();
        let task = tokio::spawn(ext.run(run));
        // A different length changes the stamp even within the file system's time resolution.
        std::fs::write(&file, "second-token\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while cap.authenticate(&headers("Bearer second-token")).is_err() {
            assert!(std::time::Instant::now() < deadline, "not reloaded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(cap.authenticate(&headers("Bearer first")).is_err());
        assert_eq!(cap.client_headers().unwrap()[0].1, "Bearer second-token");
        stop.cancel();
        task.await.unwrap().unwrap();
    }
}
