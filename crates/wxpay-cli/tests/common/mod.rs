//! Shared by the command's process-driven tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use wxpay_sandbox::{OrderKey, OrderState, SandboxThread};

/// The `wxpay` binary, with nothing from the developer's own environment.
pub(crate) fn wxpay() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wxpay"));
    // Nothing from the developer's own environment leaks into a test.
    for (k, _) in std::env::vars() {
        if k.starts_with("WXPAY_") {
            c.env_remove(k);
        }
    }
    c
}

/// Standard output and standard error as text.
pub(crate) fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A fresh directory of its own for a test.
pub(crate) fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wxpay-cli-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `WXPAY_*` settings for the sandbox's test merchants, keys written to `dir`.
pub(crate) fn env_for(sandbox: &SandboxThread, dir: &Path) -> Vec<(String, String)> {
    let vars = sandbox.credentials().write_key_files(dir).unwrap();
    vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// What `wxpay check` said: its exit code, its output, and its `clock:` line.
pub(crate) struct Checked {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) clock: String,
}

/// `wxpay check` with `sandbox`'s settings (keys written to a fresh directory), less the
/// variables `leave_out`.
pub(crate) fn check(sandbox: &SandboxThread, leave_out: &[&str]) -> Checked {
    let dir = tempfile::tempdir().unwrap();
    let env = without(&env_for(sandbox, dir.path()), leave_out);
    let out = wxpay().arg("check").envs(env).output().unwrap();
    let (stdout, stderr) = text(&out);
    let clock = stdout.lines().find(|l| l.starts_with("clock:")).unwrap_or_default().to_owned();
    Checked { code: out.status.code(), stdout, stderr, clock }
}

/// `env` without the variables `names`.
pub(crate) fn without(env: &[(String, String)], names: &[&str]) -> Vec<(String, String)> {
    env.iter().filter(|(k, _)| !names.contains(&k.as_str())).cloned().collect()
}

/// Every JSON record of a journal (the header included).
pub(crate) fn journal_records(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Lines in a journal, whole or not.
pub(crate) fn journal_records_len(path: &Path) -> usize {
    std::fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0)
}

/// `n` unpaid orders `{prefix}-0000`… of the sandbox's direct APIv3 merchant, listed one a
/// line in `dir/orders.txt`: the file's path.
pub(crate) fn unpaid_orders_file(
    sandbox: &SandboxThread,
    dir: &Path,
    prefix: &str,
    n: usize,
) -> PathBuf {
    let state = sandbox.state();
    let mut input = String::new();
    for i in 0..n {
        let no = format!("{prefix}-{i:04}");
        state.put_order(OrderKey::new("1900000001", &no), OrderState::Unpaid);
        input.push_str(&no);
        input.push('\n');
    }
    let file = dir.join("orders.txt");
    std::fs::write(&file, input).unwrap();
    file
}

/// That each of the `n` orders of [`unpaid_orders_file`] is closed, by one close.
pub(crate) fn assert_each_closed_once(sandbox: &SandboxThread, prefix: &str, n: usize) {
    for i in 0..n {
        let no = format!("{prefix}-{i:04}");
        let order = sandbox.state().order(&OrderKey::new("1900000001", &no)).unwrap();
        assert_eq!((order.state, order.closes), (OrderState::Closed, 1), "{no}");
    }
}

/// [`wxpay`] with the settings `env`.
pub(crate) fn wxpay_with(env: &[(String, String)]) -> Command {
    let mut c = wxpay();
    c.envs(env.iter().cloned());
    c
}
