//! `wxpay sign` and `wxpay verify`: the signature of a request or an answer, step by step,
//! with the core's own code. Secrets are read from files and never printed.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use wxpay_core::ApiV2Key;
use wxpay_core::v2::{self, SignType};
use wxpay_core::v3::{
    self, Authorization, PlatformCertificateVerifier, PublicKeyVerifier, RsaSigner, Signer,
};

use crate::{Failure, exit};

#[derive(clap::Subcommand, Debug)]
pub(crate) enum SignCommand {
    /// APIv2: fields and key → string-to-sign (key masked), sign, XML body.
    V2 {
        /// A field as NAME=VALUE (repeat for each; `sign` is ignored).
        #[arg(long = "field", value_name = "NAME=VALUE", required = true)]
        fields: Vec<String>,
        /// The file holding the API v2 key.
        #[arg(long, env = "WXPAY_API_V2_KEY_FILE", value_name = "FILE")]
        key_file: PathBuf,
        /// MD5 (default; also when a `sign_type` field says so) or HMAC-SHA256.
        #[arg(long, value_name = "TYPE")]
        sign_type: Option<String>,
    },
    /// APIv3: request → message, signature, Authorization header.
    V3 {
        /// The HTTP method.
        #[arg(long, default_value = "POST")]
        method: String,
        /// The full URL or the path (with `?query`) exactly as sent.
        #[arg(long)]
        url: String,
        /// The body exactly as sent (or --body-file).
        #[arg(long, conflicts_with = "body_file")]
        body: Option<String>,
        /// A file with the body exactly as sent.
        #[arg(long, value_name = "FILE")]
        body_file: Option<PathBuf>,
        /// The merchant's API private key.
        #[arg(long, env = "WXPAY_PRIVATE_KEY_FILE", value_name = "FILE")]
        private_key_file: PathBuf,
        /// The merchant id.
        #[arg(long, env = "WXPAY_MCHID")]
        mchid: String,
        /// The merchant API certificate's serial number.
        #[arg(long, env = "WXPAY_SERIAL_NO")]
        serial_no: String,
        /// Unix seconds (now by default).
        #[arg(long)]
        timestamp: Option<u64>,
        /// The nonce (random by default).
        #[arg(long)]
        nonce: Option<String>,
    },
}

#[derive(clap::Subcommand, Debug)]
pub(crate) enum VerifyCommand {
    /// APIv3: an answer's headers and body → valid, or the reason it is not.
    V3 {
        /// A header as "Name: value" (repeat: Wechatpay-Timestamp, -Nonce, -Signature, -Serial).
        #[arg(long = "header", value_name = "NAME: VALUE", required = true)]
        headers: Vec<String>,
        /// The body exactly as received (empty by default, as for a 204).
        #[arg(long, conflicts_with = "body_file", default_value = "")]
        body: String,
        /// A file with the body exactly as received.
        #[arg(long, value_name = "FILE")]
        body_file: Option<PathBuf>,
        /// The WeChat Pay public key (PEM), public-key mode.
        #[arg(long, env = "WXPAY_PUBLIC_KEY_FILE", value_name = "FILE")]
        public_key_file: Option<PathBuf>,
        /// The public key's id (`PUB_KEY_ID_…`).
        #[arg(long, env = "WXPAY_PUBLIC_KEY_ID")]
        public_key_id: Option<String>,
        /// A platform certificate (PEM), platform-certificate mode.
        #[arg(long, env = "WXPAY_PLATFORM_CERT_FILE", value_name = "FILE")]
        platform_cert_file: Option<PathBuf>,
        /// "Now", Unix seconds (local time by default).
        #[arg(long)]
        now: Option<u64>,
        /// How far the answer's timestamp may be from now, seconds.
        #[arg(long, default_value_t = v3::DEFAULT_WINDOW_SECS)]
        window: u64,
    },
}

fn read(path: &PathBuf) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))
}

use wxpay_core::unix_now as now;

pub(crate) fn sign(cmd: SignCommand) -> Result<u8, Failure> {
    match cmd {
        SignCommand::V2 { fields, key_file, sign_type } => {
            let mut pairs = Vec::new();
            for f in &fields {
                let (k, v) = f
                    .split_once('=')
                    .ok_or_else(|| Failure::usage(format!("--field {f}: use NAME=VALUE")))?;
                pairs.push((k.to_owned(), v.to_owned()));
            }
            let key_text = String::from_utf8(read(&key_file)?)
                .map_err(|_| Failure::usage("the key file is not text"))?;
            let key = ApiV2Key::new(key_text.trim()).map_err(|e| Failure::usage(e.to_string()))?;
            let wire = sign_type
                .or_else(|| pairs.iter().find(|(k, _)| k == "sign_type").map(|(_, v)| v.clone()));
            let sign_type = match wire.as_deref() {
                None => SignType::Md5,
                Some(s) => crate::settings::parse_sign_type(s)?,
            };
            // The merchant's setting does not change how these fields are verified: a request
            // that names no sign_type is MD5's (the client adds `sign_type` to its own).
            let setting = std::env::var("WXPAY_SIGN_TYPE").ok();
            let setting = setting.and_then(|s| crate::settings::parse_sign_type(&s).ok());
            if wire.is_none() && setting == Some(SignType::HmacSha256) {
                note!(
                    "wxpay: note: WXPAY_SIGN_TYPE says HMAC-SHA256, but these fields name no sign_type, so WeChat Pay verifies them with MD5 (the client adds sign_type=HMAC-SHA256 to its requests: add --field sign_type=HMAC-SHA256 to see that)"
                );
            }
            let borrowed = || pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            let payload = v2::payload(borrowed());
            let sign = v2::sign_fields(&key, sign_type, borrowed())
                .map_err(|e| Failure::error(e.to_string()))?;
            let mut sorted: Vec<(&str, &str)> =
                borrowed().filter(|(k, v)| !v.is_empty() && *k != "sign").collect();
            sorted.sort();
            sorted.push(("sign", sign.as_str()));
            let xml = String::from_utf8_lossy(&v2::xml_document(sorted)).into_owned();
            say!("sign_type:      {}", sign_type.as_str());
            say!("string_to_sign: {payload}&key={}", "*".repeat(32));
            say!("sign:           {}", sign.as_str());
            say!("body:           {xml}");
            Ok(exit::CLOSED)
        }
        SignCommand::V3 {
            method,
            url,
            body,
            body_file,
            private_key_file,
            mchid,
            serial_no,
            timestamp,
            nonce,
        } => {
            let body = match (body, body_file) {
                (Some(b), _) => b.into_bytes(),
                (None, Some(f)) => read(&f)?,
                (None, None) => Vec::new(),
            };
            let target = match url.parse::<http::Uri>() {
                Ok(u) if u.scheme().is_some() => {
                    u.path_and_query().map_or("/".to_owned(), |p| p.as_str().to_owned())
                }
                _ => url.clone(),
            };
            let signer = RsaSigner::from_pem(read(&private_key_file)?)
                .map_err(|e| Failure::usage(format!("{}: {e}", private_key_file.display())))?;
            let timestamp = timestamp.unwrap_or_else(now);
            let nonce = match nonce {
                Some(n) => n,
                None => {
                    let mut bytes = [0u8; 24];
                    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
                        .map_err(|_| Failure::error("the system random source failed"))?;
                    wxpay_core::AttemptRandom::from_bytes(bytes).nonce
                }
            };
            let message = v3::request_message(
                &method.to_ascii_uppercase(),
                &target,
                timestamp,
                &nonce,
                &body,
            );
            let signature =
                STANDARD.encode(signer.sign(&message).map_err(|e| Failure::error(e.to_string()))?);
            let auth = Authorization {
                mchid,
                nonce_str: nonce,
                signature: signature.clone(),
                timestamp: timestamp.to_string(),
                serial_no,
            };
            say!("message (each line ends with \\n):");
            for line in String::from_utf8_lossy(&message).split_inclusive('\n') {
                say!("  {}", line.trim_end_matches('\n'));
            }
            say!("signature:     {signature}");
            say!("Authorization: {auth}");
            Ok(exit::CLOSED)
        }
    }
}

pub(crate) fn verify(cmd: VerifyCommand) -> Result<u8, Failure> {
    let VerifyCommand::V3 {
        headers,
        body,
        body_file,
        public_key_file,
        public_key_id,
        platform_cert_file,
        now: at,
        window,
    } = cmd;
    let body = match body_file {
        Some(f) => read(&f)?,
        None => body.into_bytes(),
    };
    let mut map = http::HeaderMap::new();
    for h in &headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| Failure::usage(format!("--header {h}: use \"Name: value\"")))?;
        let name = http::HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| Failure::usage(format!("bad header name in {h}")))?;
        let value = http::HeaderValue::from_str(value.trim())
            .map_err(|_| Failure::usage(format!("bad header value in {h}")))?;
        map.append(name, value);
    }
    let mut set = v3::VerifierSet::new();
    let mut any = false;
    if let Some(f) = &public_key_file {
        let id = public_key_id
            .clone()
            .ok_or_else(|| Failure::usage("--public-key-file needs --public-key-id"))?;
        set = set.with(
            PublicKeyVerifier::from_pem(id, read(f)?)
                .map_err(|e| Failure::usage(format!("{}: {e}", f.display())))?,
        );
        any = true;
    }
    if let Some(f) = &platform_cert_file {
        set = set.with(
            PlatformCertificateVerifier::from_pem(read(f)?)
                .map_err(|e| Failure::usage(format!("{}: {e}", f.display())))?,
        );
        any = true;
    }
    if !any {
        return Err(Failure::usage(
            "give --public-key-file with --public-key-id, or --platform-cert-file",
        ));
    }
    let at = at.unwrap_or_else(now);
    if let (Some(ts), Some(nonce)) = (map.get(v3::header::TIMESTAMP), map.get(v3::header::NONCE)) {
        let message = v3::response_message(
            ts.to_str().unwrap_or_default(),
            nonce.to_str().unwrap_or_default(),
            &body,
        );
        say!("message (each line ends with \\n):");
        for line in String::from_utf8_lossy(&message).split_inclusive('\n') {
            say!("  {}", line.trim_end_matches('\n'));
        }
    }
    match v3::verify_response(&set, &map, &body, at, window) {
        Ok(()) => {
            say!("verdict: valid");
            Ok(exit::CLOSED)
        }
        Err(e) => {
            say!("verdict: INVALID: {e}");
            Ok(exit::ERROR)
        }
    }
}
