//! Where requests go: WeChat Pay's hosts, or a base URL of the caller's choosing.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::InvalidInput;

/// A base URL: `scheme://host[:port]`, no path. `https` always; `http` only to a loopback
/// address (`127.0.0.0/8`, `[::1]`, `localhost`), for the sandbox.
#[derive(Clone)]
pub struct BaseUrl {
    text: String,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
}

impl PartialEq for BaseUrl {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for BaseUrl {}

impl BaseUrl {
    /// WeChat Pay's primary host; routes to the nearest access point.
    pub const PRIMARY: &'static str = "https://api.mch.weixin.qq.com";
    /// The backup host, in another city, for fail-over.
    pub const BACKUP: &'static str = "https://api2.mch.weixin.qq.com";
    /// The host for Hong Kong and cross-border merchants.
    pub const HONG_KONG: &'static str = "https://apihk.mch.weixin.qq.com";

    /// Checks and takes a base URL. A trailing `/` is dropped.
    ///
    /// # Errors
    /// [`InvalidInput::BadBaseUrl`] for anything that is not `https://host[:port]` or
    /// `http://` to a loopback host; paths, queries and user info are refused.
    pub fn parse(url: &str) -> Result<BaseUrl, InvalidInput> {
        let bad = |reason| InvalidInput::BadBaseUrl { reason };
        let trimmed = url.strip_suffix('/').unwrap_or(url);
        let uri: http::Uri = trimmed.parse().map_err(|_| bad("not a URL"))?;
        let scheme = uri.scheme_str().ok_or(bad("no scheme (use https://…)"))?;
        let authority = uri.authority().ok_or(bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("user info is not allowed"));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad("a base URL has no path or query"));
        }
        match scheme {
            "https" => {}
            "http" if is_loopback(authority.host()) => {}
            "http" => return Err(bad("http is allowed only to a loopback address; use https")),
            _ => return Err(bad("the scheme must be https")),
        }
        let text = format!("{scheme}://{authority}");
        let scheme = uri.scheme().cloned().ok_or(bad("no scheme (use https://…)"))?;
        let authority = authority.clone();
        Ok(BaseUrl { text, scheme, authority })
    }

    /// The URI of `path_and_query` (which must start with `/`) on this base.
    ///
    /// # Errors
    /// [`InvalidInput::BadPath`] when `path_and_query` is not a valid URI path.
    pub fn join(&self, path_and_query: http::uri::PathAndQuery) -> Result<http::Uri, InvalidInput> {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path_and_query);
        http::Uri::from_parts(parts)
            .map_err(|_| InvalidInput::BadPath { reason: "could not form the request URI" })
    }

    /// The URL, `scheme://host[:port]`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The `host[:port]` part, for logs and errors.
    #[must_use]
    pub fn host(&self) -> &str {
        self.authority.as_str()
    }

    fn known(url: &'static str) -> BaseUrl {
        // The three constants above parse; the fallback is never taken.
        BaseUrl::parse(url).unwrap_or_else(|_| BaseUrl {
            text: url.to_owned(),
            scheme: http::uri::Scheme::HTTPS,
            authority: http::uri::Authority::from_static("api.mch.weixin.qq.com"),
        })
    }
}

fn is_loopback(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    if let Ok(v4) = host.parse::<Ipv4Addr>() {
        return v4.is_loopback();
    }
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse::<Ipv6Addr>().ok())
        .is_some_and(|v6| v6.is_loopback())
}

impl fmt::Debug for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BaseUrl({})", self.text)
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Which WeChat Pay access point a client talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// Mainland China: the primary host, failing over to the backup host.
    Mainland,
    /// Hong Kong and cross-border merchants (no fail-over host).
    HongKong,
    /// A base URL of the caller's (a proxy, or the sandbox), with an optional fail-over URL.
    Custom {
        /// Where requests go first.
        primary: BaseUrl,
        /// Where they go when the primary cannot be reached.
        backup: Option<BaseUrl>,
    },
}

impl Endpoint {
    /// A single custom base URL, without fail-over.
    ///
    /// # Errors
    /// As [`BaseUrl::parse`].
    pub fn custom(url: &str) -> Result<Endpoint, InvalidInput> {
        Ok(Endpoint::Custom { primary: BaseUrl::parse(url)?, backup: None })
    }

    /// The base URL to use first.
    #[must_use]
    pub fn primary(&self) -> BaseUrl {
        match self {
            Endpoint::Mainland => BaseUrl::known(BaseUrl::PRIMARY),
            Endpoint::HongKong => BaseUrl::known(BaseUrl::HONG_KONG),
            Endpoint::Custom { primary, .. } => primary.clone(),
        }
    }

    /// The base URL to fail over to, if this endpoint has one.
    #[must_use]
    pub fn backup(&self) -> Option<BaseUrl> {
        match self {
            Endpoint::Mainland => Some(BaseUrl::known(BaseUrl::BACKUP)),
            Endpoint::HongKong => None,
            Endpoint::Custom { backup, .. } => backup.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_to_loopback() {
        for ok in [
            "https://api.mch.weixin.qq.com",
            "https://api.mch.weixin.qq.com/",
            "https://proxy.example:8443",
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://localhost:1",
            "http://[::1]:8080",
        ] {
            assert!(BaseUrl::parse(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("http://api.mch.weixin.qq.com", "loopback"),
            ("http://10.0.0.1", "loopback"),
            ("http://[::2]", "loopback"),
            ("ftp://x", "scheme"),
            ("api.mch.weixin.qq.com", "scheme"),
            ("https://x/pay", "path"),
            ("https://x?a=b", "path or query"),
            ("https://u:p@x", "user info"),
            ("", "URL"),
        ] {
            let err = BaseUrl::parse(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn endpoints_name_their_hosts() {
        assert_eq!(Endpoint::Mainland.primary().as_str(), BaseUrl::PRIMARY);
        assert_eq!(Endpoint::Mainland.backup().unwrap().as_str(), BaseUrl::BACKUP);
        assert_eq!(Endpoint::HongKong.primary().host(), "apihk.mch.weixin.qq.com");
        assert_eq!(Endpoint::HongKong.backup(), None);
        let e = Endpoint::custom("http://127.0.0.1:9/").unwrap();
        assert_eq!(e.primary().as_str(), "http://127.0.0.1:9");
    }
}
