//! How a service reaches the search cluster: the settings (URL, index prefix, credentials, CA,
//! request timeout) read from the same variables by every service that talks to it, and the
//! client built from them. es-sink writes with them; the results page only reads.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use elasticsearch::Elasticsearch;
use elasticsearch::auth::Credentials;
use elasticsearch::cert::{Certificate, CertificateValidation};
use elasticsearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use url::Url;

use crate::config::parse_http_url;

/// Prefix of the daily indices (`<prefix>-YYYY.MM.DD`) and name of their index template.
pub const DEFAULT_INDEX_PREFIX: &str = "web-events";

#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    /// Elasticsearch URL (http:// or https://); a password in it is never printed.
    #[arg(long, env = "ES_URL", default_value = "http://localhost:9200", value_parser = parse_http_url, hide_env_values = true)]
    pub es_url: Url,

    /// Prefix of the daily indices: <prefix>-YYYY.MM.DD, and name of their index template.
    #[arg(long, env = "ES_INDEX_PREFIX", default_value = DEFAULT_INDEX_PREFIX)]
    pub es_index_prefix: String,

    /// User for basic authentication (with ES_PASSWORD).
    #[arg(long, env = "ES_USERNAME", requires = "es_password")]
    pub es_username: Option<String>,

    /// Password for basic authentication.
    #[arg(
        long,
        env = "ES_PASSWORD",
        hide_env_values = true,
        requires = "es_username"
    )]
    pub es_password: Option<String>,

    /// API key, base64 of id:key as Elasticsearch returns it in `encoded`; instead of basic
    /// authentication.
    #[arg(
        long,
        env = "ES_API_KEY",
        hide_env_values = true,
        conflicts_with = "es_username"
    )]
    pub es_api_key: Option<String>,

    /// PEM file of the CA that signed the cluster's certificate (for https:// with a private CA,
    /// as Elasticsearch 8 sets up by default).
    #[arg(long, env = "ES_CA_CERT")]
    pub es_ca_cert: Option<PathBuf>,

    /// Longest wait for one request to Elasticsearch.
    #[arg(long, env = "ES_REQUEST_TIMEOUT", default_value = "30s", value_parser = crate::config::parse_positive_duration)]
    pub es_request_timeout: Duration,
}

impl SearchArgs {
    /// The pattern matching every daily index: `<prefix>-*`.
    pub fn index_pattern(&self) -> String {
        format!("{}-*", self.es_index_prefix)
    }

    /// A client with these settings; `Err` says which setting is wrong.
    pub fn client(&self) -> Result<Elasticsearch, String> {
        let pool = SingleNodeConnectionPool::new(self.es_url.clone());
        let mut transport = TransportBuilder::new(pool).timeout(self.es_request_timeout);
        if let (Some(user), Some(password)) = (&self.es_username, &self.es_password) {
            transport = transport.auth(Credentials::Basic(user.clone(), password.clone()));
        }
        if let Some(key) = &self.es_api_key {
            transport = transport.auth(Credentials::EncodedApiKey(key.clone()));
        }
        if let Some(path) = &self.es_ca_cert {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read ES_CA_CERT {}: {e}", path.display()))?;
            let certificate = Certificate::from_pem(&pem).map_err(|e| {
                format!(
                    "ES_CA_CERT {} is not a PEM certificate: {e}",
                    path.display()
                )
            })?;
            transport = transport.cert_validation(CertificateValidation::Full(certificate));
        }
        let transport = transport
            .build()
            .map_err(|e| format!("cannot build the Elasticsearch client: {e}"))?;
        Ok(Elasticsearch::new(transport))
    }
}
