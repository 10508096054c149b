//! The precedence of settings: flags, then a config file given explicitly, then the
//! environment, then a config file the environment names.

use crate::{Api, Origin, Settings, SettingsError, Source};

/// Settings that go together, by their keys: where to send, the APIv2 credentials, the APIv3
/// credentials. An explicit config file that holds any of a group sets the environment's
/// whole group aside.
pub(crate) const GROUPS: [&[&str]; 3] = [
    &["base_url", "backup_url", "endpoint"],
    &["appid", "mch_id", "api_v2_key_file", "sign_type"],
    &[
        "mchid",
        "serial_no",
        "private_key_file",
        "public_key_id",
        "public_key_file",
        "platform_cert_file",
        "platform_cert_dir",
        "api_v3_key_file",
    ],
];

impl Settings {
    /// Takes the config file's settings, if [`config`](Self::config) names one
    /// ([`from_file`](Self::from_file)), by the command's precedence, which
    /// [`origin`](Self::origin) says how to apply:
    ///
    /// - Flags always win.
    /// - A file given explicitly (`--config`, or set by the program: any source but the
    ///   environment) wins over the environment: for each group of settings it holds any of
    ///   (where to send: `base_url`, `backup_url`, `endpoint`; the APIv2 credentials; the
    ///   APIv3 credentials; the others one by one), the environment's settings of that group
    ///   are set aside, and a file with credentials but no destination sends to WeChat Pay,
    ///   not to an environment's base URL. A file that moves the destination (names one, or
    ///   sends to WeChat Pay instead of the environment's) sets aside every credential of the
    ///   environment: credentials meant for one destination never go to another.
    /// - A file named by `WXPAY_CONFIG` (from the environment itself) only fills what flags
    ///   and the environment left unset.
    ///
    /// The settings the file gave are then of [`Source::File`]. Resolving again changes
    /// nothing.
    ///
    /// # Errors
    /// Those of [`from_file`](Self::from_file).
    pub fn resolve(mut self) -> Result<Settings, SettingsError> {
        // A flag of the destination group sets every other source's destination aside:
        // `--endpoint hongkong` is not overruled by a variable's (or a file's) base URL.
        let flag_destination = GROUPS[0].iter().any(|k| self.origin.flag(k));
        if flag_destination {
            self.set_aside_where(|key, origin| {
                GROUPS[0].contains(&key) && !origin.flag(key) && origin.of(key).is_some()
            });
        }
        let Some(path) = self.config.clone() else { return Ok(self) };
        let mut file = Settings::from_file(&path)?;
        let given: Vec<&str> =
            file.slots().into_iter().filter(|(_, s)| s.is_set()).map(|(k, _)| k).collect();
        // Whether the file gives any setting of `group`.
        let holds = |group: &[&str]| group.iter().any(|k| given.contains(k));
        if !self.origin.env("config") {
            let credentials = holds(GROUPS[1]) || holds(GROUPS[2]);
            // The file moves the destination when it names one, or when it holds credentials
            // and the environment names one (the file's credentials go to WeChat Pay): then
            // no credential of the environment's goes with it.
            let env_destination = GROUPS[0].iter().any(|k| self.origin.env(k));
            let moved = holds(GROUPS[0]) || (credentials && env_destination);
            let mut aside: Vec<&str> = given.clone();
            for (i, group) in GROUPS.iter().enumerate() {
                if holds(group) || (i == 0 && credentials) || (i > 0 && moved) {
                    aside.extend(group.iter());
                }
            }
            // The environment's proxy and TLS roots were chosen for its destination (the
            // sandbox's test CA after `wxpay sandbox --tls`): they do not follow a move.
            if moved {
                aside.extend(["proxy", "tls_roots_file"]);
            }
            self.set_aside_where(|key, origin| aside.contains(&key) && origin.env(key));
        } else {
            // A file the environment names fills only whole groups the flags and variables
            // leave empty (never half of a merchant's credentials), and never puts credentials
            // meant for one destination with another's.
            let mine = |s: &mut Settings, group: &[&str]| {
                s.slots().into_iter().any(|(k, slot)| group.contains(&k) && slot.is_set())
            };
            let destination = mine(&mut self, GROUPS[0]);
            for (api, group) in [(Api::V2, GROUPS[1]), (Api::V3, GROUPS[2])] {
                let (own, filed) = (mine(&mut self, group), holds(group));
                if own && !destination && holds(GROUPS[0]) {
                    // The file names where to send; the credentials given are meant for
                    // WeChat Pay (they name no destination).
                    return Err(SettingsError::CrossedDestination {
                        file: path,
                        destination_in_file: true,
                        credentials: api,
                    });
                }
                if !own && filed && destination && !holds(GROUPS[0]) {
                    // The file's credentials are meant for WeChat Pay, not for the
                    // destination the flags or variables name.
                    return Err(SettingsError::CrossedDestination {
                        file: path,
                        destination_in_file: false,
                        credentials: api,
                    });
                }
            }
            for (i, group) in GROUPS.iter().enumerate() {
                let own = mine(&mut self, group);
                let cross = i > 0 && destination && !own && holds(GROUPS[0]);
                if own || cross {
                    for (key, mut slot) in file.slots() {
                        if group.contains(&key) && slot.is_set() {
                            slot.clear();
                            if !self.origin.set_aside.contains(&key) {
                                self.origin.set_aside.push(key);
                            }
                        }
                    }
                }
            }
        }
        if flag_destination {
            for (key, mut slot) in file.slots() {
                if GROUPS[0].contains(&key) {
                    slot.clear();
                }
            }
        }
        // Flags (and what is left of the environment) win; the file fills the rest.
        let mut filled = Vec::new();
        for ((key, mut mine), (_, theirs)) in self.slots().into_iter().zip(file.slots()) {
            if mine.fill_from(theirs) {
                filled.push(key);
            }
        }
        for key in filled {
            self.origin.set(key, Source::File);
        }
        Ok(self)
    }

    /// Clears the settings `drop` names (by key, and where each came from), forgetting
    /// their origin.
    fn set_aside_where(&mut self, drop: impl Fn(&'static str, &Origin) -> bool) {
        let mut origin = self.origin.clone();
        for (key, mut slot) in self.slots() {
            if drop(key, &origin) {
                slot.clear();
                origin.forget(key);
            }
        }
        self.origin = origin;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn groups_name_settings_once_each() {
        let mut seen = Vec::new();
        for key in GROUPS.iter().flat_map(|g| g.iter()) {
            assert!(Settings::KEYS.contains(key), "{key} is not a setting");
            assert!(!seen.contains(key), "{key} is in two groups");
            seen.push(key);
        }
    }

    fn with(pairs: &[(&str, &str, Source)]) -> Settings {
        let mut s = Settings::default();
        let mut origin = Origin::default();
        for (key, value, source) in pairs {
            for (k, slot) in s.slots() {
                if k == *key {
                    match slot {
                        crate::Slot::Text(v) => *v = Some((*value).to_owned()),
                        crate::Slot::Path(v) => *v = Some((*value).into()),
                    }
                }
            }
            origin.set(*key, *source);
        }
        s.origin = origin;
        s
    }

    #[test]
    fn precedence_flags_then_explicit_file_then_env_then_env_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("wxpay.toml");
        std::fs::write(&file, "mch_id = \"2\"\nappid = \"wxfile\"\napi_v2_key_file = \"k.txt\"\n")
            .unwrap();
        let path = file.to_str().unwrap();
        // Explicit: the file's APIv2 group sets the environment's aside (its sign type too),
        // and with credentials but no destination, the environment's base URL goes.
        let s = with(&[
            ("config", path, Source::Flag),
            ("mch_id", "1", Source::Env),
            ("sign_type", "HMAC-SHA256", Source::Env),
            ("base_url", "http://127.0.0.1:1", Source::Env),
            ("mchid", "3", Source::Env),
            ("appid", "wxflag", Source::Flag),
        ])
        .resolve()
        .unwrap();
        assert_eq!(s.appid.as_deref(), Some("wxflag"), "flags win");
        assert_eq!(s.mch_id.as_deref(), Some("2"));
        assert_eq!(s.sign_type, None);
        assert_eq!(s.base_url, None, "the file's credentials go to WeChat Pay");
        assert_eq!(s.mchid, None, "the destination moved: no credential of the environment");
        assert_eq!(s.api_v2_key_file.as_deref(), Some(dir.path().join("k.txt").as_path()));
        assert_eq!(s.origin.of("mch_id"), Some(Source::File));
        assert_eq!(s.origin.of("appid"), Some(Source::Flag));
        assert_eq!(s.origin.of("base_url"), None);
        // Named by WXPAY_CONFIG: it only fills.
        let s = with(&[
            ("config", path, Source::Env),
            ("mch_id", "1", Source::Env),
            ("base_url", "http://127.0.0.1:1", Source::Env),
        ])
        .resolve()
        .unwrap();
        assert_eq!(s.mch_id.as_deref(), Some("1"));
        assert_eq!(s.appid, None, "never half of a merchant's credentials from the file");
        assert_eq!(s.base_url.as_deref(), Some("http://127.0.0.1:1"));
        let again = s.clone().resolve().unwrap();
        assert_eq!(format!("{again:?}"), format!("{s:?}"), "resolving again changes nothing");
        // It fills a whole group the environment leaves empty.
        let s = with(&[("config", path, Source::Env), ("proxy", "http://p:1", Source::Env)])
            .resolve()
            .unwrap();
        assert_eq!((s.mch_id.as_deref(), s.appid.as_deref()), (Some("2"), Some("wxfile")));
        assert_eq!(s.proxy.as_deref(), Some("http://p:1"));
    }

    #[test]
    fn a_file_the_environment_names_never_crosses_credentials_and_destinations() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let file = dir.path().join(name);
            std::fs::write(&file, text).unwrap();
            file.to_str().unwrap().to_owned()
        };
        // The file sends elsewhere; the environment's credentials are meant for WeChat Pay.
        let dev = write("dev.toml", "base_url = \"http://127.0.0.1:9\"\n");
        let e = with(&[("config", &dev, Source::Env), ("mchid", "1900000001", Source::Env)])
            .resolve()
            .unwrap_err();
        assert!(
            matches!(
                e,
                SettingsError::CrossedDestination {
                    destination_in_file: true,
                    credentials: Api::V3,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("never go to another"), "{e}");
        // The file's credentials are meant for WeChat Pay; the environment sends elsewhere.
        let prod = write("prod.toml", "mch_id = \"2\"\nappid = \"wxprod\"\n");
        let e = with(&[
            ("config", &prod, Source::Env),
            ("base_url", "http://127.0.0.1:1", Source::Env),
        ])
        .resolve()
        .unwrap_err();
        assert!(
            matches!(
                e,
                SettingsError::CrossedDestination {
                    destination_in_file: false,
                    credentials: Api::V2,
                    ..
                }
            ),
            "{e}"
        );
        // The sandbox's exports over a production file: nothing of the file's credentials
        // (its certificate directory included) joins the sandbox's.
        let prod = write(
            "prod3.toml",
            "mchid = \"1230000001\"\nplatform_cert_dir = \"certs\"\napi_v3_key_file = \"v3.txt\"\n",
        );
        let s = with(&[
            ("config", &prod, Source::Env),
            ("base_url", "http://127.0.0.1:1", Source::Env),
            ("mchid", "1900000001", Source::Env),
            ("api_v3_key_file", "sandbox_v3.txt", Source::Env),
        ])
        .resolve()
        .unwrap();
        assert_eq!(s.mchid.as_deref(), Some("1900000001"));
        assert_eq!(s.platform_cert_dir, None);
        assert_eq!(s.api_v3_key_file.as_deref(), Some(std::path::Path::new("sandbox_v3.txt")));
    }
}
