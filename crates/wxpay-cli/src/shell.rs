//! Command lines as a shell reads them.

/// `text` as one shell word: as it is when that is safe, else in single quotes.
pub(crate) fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b));
    if plain { text.to_owned() } else { format!("'{}'", text.replace('\'', "'\\''")) }
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn shell_words_survive_spaces_and_quotes() {
        assert_eq!(shell_quote("/tmp/keys/a.pem"), "/tmp/keys/a.pem");
        assert_eq!(shell_quote("/tmp/my keys/a.pem"), "'/tmp/my keys/a.pem'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
    }
}
