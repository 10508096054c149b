//! Credentials and endpoint: the library's [`Settings`] (`wxpay-settings`, with its `clap`
//! flags), read by its rules: flags, a TOML file named with `--config`, and `WXPAY_*`
//! environment variables, in that order of precedence (a file named by `WXPAY_CONFIG`,
//! itself from the environment, only fills whole groups the environment leaves unset, never
//! crossing credentials and destinations: [`Settings::resolve`]). Key material
//! is only ever read from files. What stays here: the origin of each setting as clap saw it,
//! the command's own wording, and the certificates written back (`ops::certificates`).

use wxpay_core::ClientConfig;
pub(crate) use wxpay_settings::{Api, Origin, Purpose, Settings, SettingsError, Source};

use crate::Failure;
use crate::ops::certificates::KeptCertificates;

/// A settings error is a usage error: nothing was sent.
impl From<SettingsError> for Failure {
    fn from(e: SettingsError) -> Self {
        Failure::usage(e.to_string())
    }
}

/// WeChat Pay's own hosts.
const WECHAT_PAY: [&str; 3] =
    [wxpay_core::BaseUrl::PRIMARY, wxpay_core::BaseUrl::BACKUP, wxpay_core::BaseUrl::HONG_KONG];

/// When `config` sends anywhere but WeChat Pay's own hosts, the note that says where.
fn not_wechat_pay(config: &ClientConfig) -> Option<String> {
    let endpoint = config.endpoint();
    let urls: Vec<String> = std::iter::once(endpoint.primary())
        .chain(endpoint.backup())
        .map(|url| url.as_str().to_owned())
        .filter(|url| !WECHAT_PAY.iter().any(|w| w.eq_ignore_ascii_case(url)))
        .collect();
    match urls.as_slice() {
        [] => None,
        [one] => Some(format!("sending to {one}, which is not WeChat Pay")),
        more => Some(format!("sending to {}, which are not WeChat Pay", more.join(" and "))),
    }
}

/// What to say, once, just before the first request goes out, when `config` sends anywhere
/// but WeChat Pay (nothing when the command refuses before sending).
pub(crate) fn destination_note(config: &ClientConfig) -> Option<String> {
    not_wechat_pay(config).map(|text| format!("wxpay: note: {text}"))
}

/// Says [`destination_note`], if any.
pub(crate) fn say_destination(config: &ClientConfig) {
    if let Some(text) = destination_note(config) {
        note!("{text}");
    }
}

/// [`Settings::require`], and for someone with no settings at all, how to try the sandbox.
pub(crate) fn require(settings: &Settings, api: Api) -> Result<(), Failure> {
    settings.require(api).map_err(|e| {
        let mut failure = Failure::from(e);
        if let Some(note) = set_aside_note(settings, &failure.message) {
            failure.message.push_str(&note);
        }
        if settings.config.is_none() && settings.base_url.is_none() {
            failure.message.push_str(
                ". To try the sandbox: `wxpay close --sandbox …`, or source `wxpay sandbox`'s output",
            );
        }
        failure
    })
}

/// A file given as `--config` sets aside the environment's settings of each group it gives
/// part of (or all its credentials, when it moves the destination): of the variables
/// `message` names as missing, those that are set but were set aside, said as such.
pub(crate) fn set_aside_note(settings: &Settings, message: &str) -> Option<String> {
    let config = settings.config.as_ref().filter(|_| !settings.origin.env("config"))?;
    let aside: Vec<String> = Settings::KEYS
        .iter()
        .filter(|key| settings.origin.of(key).is_none())
        .map(|key| Settings::env_var(key))
        .filter(|var| message.contains(&format!("{var},")) || message.contains(&format!("{var})")))
        .filter(|var| std::env::var_os(var).is_some_and(|v| !v.is_empty()))
        .collect();
    (!aside.is_empty()).then(|| {
        format!(
            ". Set but set aside: {} (--config {} gives part of their group, or sends elsewhere: \
             a merchant's credentials and their destination come from one place; give them all \
             in the file, or leave --config out)",
            aside.join(", "),
            config.display()
        )
    })
}

/// `MD5` or `HMAC-SHA256`, in any case (the library's one reader).
pub(crate) fn parse_sign_type(text: &str) -> Result<wxpay_core::v2::SignType, Failure> {
    Ok(wxpay_settings::parse_sign_type(text)?)
}

/// Whose platform certificates these settings keep: the APIv3 merchant and its destination.
pub(crate) fn certificate_owner(settings: &Settings) -> String {
    wxpay_settings::certificate_owner(
        settings.mchid.as_deref().unwrap_or_default(),
        &settings.destination(),
    )
}

/// The APIv2 merchant as the journal names it: `appid/mch_id`.
pub(crate) fn v2_merchant(settings: &Settings) -> String {
    format!(
        "{}/{}",
        settings.appid.as_deref().unwrap_or_default(),
        settings.mch_id.as_deref().unwrap_or_default()
    )
}

/// The client configuration of [`builder`], built (for a call that keeps no certificates
/// current).
pub(crate) fn client_config(
    settings: &Settings,
    purpose: Purpose,
) -> Result<ClientConfig, Failure> {
    builder(settings, purpose)?.builder.build().map_err(|e| Failure::usage(e.to_string()))
}

/// The library's client setup for `purpose` ([`Settings::client_setup`]: a v2 close
/// downloads no v3 certificate list), with the command's `User-Agent`, and the platform
/// certificates to write back to their directory when a refresh brought new ones.
pub(crate) fn builder(settings: &Settings, purpose: Purpose) -> Result<Built, Failure> {
    let setup = settings.client_setup(purpose)?;
    let builder = setup.builder.user_agent_suffix(concat!("wxpay-cli/", env!("CARGO_PKG_VERSION")));
    let owner = certificate_owner(settings);
    let certificates = setup.certificates.map(|loaded| KeptCertificates::new(loaded, owner));
    Ok(Built { builder, certificates })
}

/// A client configuration builder, and the platform certificates to keep current.
pub(crate) struct Built {
    pub(crate) builder: wxpay_core::ClientConfigBuilder,
    pub(crate) certificates: Option<KeptCertificates>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use clap::CommandFactory;

    /// The flags' `env` names are the library's rule, for every setting and no other: the
    /// library and the command cannot drift apart.
    #[test]
    fn every_flag_reads_the_variable_the_library_reads() {
        let cli = crate::Cli::command();
        for sub in ["close", "query", "certificates", "check"] {
            let command = cli.find_subcommand(sub).expect(sub);
            let mut seen = Vec::new();
            for arg in command.get_arguments() {
                let Some(env) = arg.get_env() else { continue };
                let id = arg.get_id().as_str();
                assert_eq!(
                    env.to_str(),
                    Some(super::Settings::env_var(id).as_str()),
                    "{sub} --{id}"
                );
                assert_eq!(arg.get_long(), Some(id.replace('_', "-").as_str()), "{sub} {id}");
                seen.push(id.to_owned());
            }
            seen.sort();
            let mut keys: Vec<String> =
                super::Settings::KEYS.iter().map(|k| (*k).to_owned()).collect();
            keys.sort();
            assert_eq!(seen, keys, "{sub}: the settings with a variable are the library's");
        }
    }
}
