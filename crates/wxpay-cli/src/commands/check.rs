//! `wxpay check`: a merchant's settings against WeChat Pay, with calls that change nothing
//! (`ops::check`).

use crate::settings::{self, Purpose, Settings};
use crate::{Failure, exit, ops};

#[derive(clap::Args, Debug)]
pub(crate) struct CheckArgs {
    #[command(flatten)]
    pub(crate) settings: Settings,
}

pub(crate) fn run(args: CheckArgs) -> Result<u8, Failure> {
    let settings = args.settings.resolve()?;
    let (v2, v3) =
        (settings.require(settings::Api::V2).is_ok(), settings.require(settings::Api::V3).is_ok());
    if !v2 && !v3 {
        // Names what is missing for APIv3 (and points at APIv2).
        settings::require(&settings, settings::Api::V3)?;
    }
    let mut good = true;
    let mut clocks = ops::check::Clocks::default();
    // Where the checks go is said once, before the first request (APIv3's, when checked).
    if v3 {
        let config = settings::client_config(&settings, Purpose::DownloadCertificates)?;
        settings::say_destination(&config);
        let has_public_key = settings.public_key_file.is_some();
        let (listed_good, listed) = ops::check::v3(
            config,
            settings.api_v3_key_file.is_some(),
            has_public_key,
            &mut clocks,
        )?;
        good &= listed_good;
        if has_public_key {
            // The public key alone: no certificate, no APIv3 key, so only an answer signed
            // with the public key can verify.
            let mut alone = settings.clone();
            alone.platform_cert_file = None;
            alone.platform_cert_dir = None;
            alone.api_v3_key_file = None;
            let config = settings::client_config(&alone, Purpose::V3)?;
            let public = ops::check::query(config, ops::check::Keys::PublicKey, &mut clocks)?;
            if public && listed {
                say!(
                    "APIv3: key mode: both (the certificate list and the public key each verified an answer)"
                );
            }
            good &= public;
        } else if settings.api_v3_key_file.is_none() {
            // Certificates from files only: whether they verify WeChat Pay's answers.
            let config = settings::client_config(&settings, Purpose::V3)?;
            good &= ops::check::query(config, ops::check::Keys::Certificates, &mut clocks)?;
        }
        // APIv2 answers carry no time: the clock is learnt from APIv3's.
        good &= clocks.report();
    }
    if v2 {
        let config = settings::client_config(&settings, Purpose::V2)?;
        if !v3 {
            settings::say_destination(&config);
        }
        good &= ops::check::v2(config)?;
    }
    Ok(if good { exit::CLOSED } else { exit::ERROR })
}
