//! Upper-case hex, the one encoder wxpay uses (APIv2 signatures, nonces, certificate serials).

const DIGITS: &[u8; 16] = b"0123456789ABCDEF";

/// Writes the upper-case hex of `bytes` into the first `2 * bytes.len()` bytes of `out`.
pub(crate) fn encode_upper_into(bytes: &[u8], out: &mut [u8]) {
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
}

/// The upper-case hex of `bytes`.
pub(crate) fn upper(bytes: &[u8]) -> String {
    let mut out = vec![0u8; 2 * bytes.len()];
    encode_upper_into(bytes, &mut out);
    out.into_iter().map(char::from).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_the_formatter() {
        let bytes: Vec<u8> = (0..=255).collect();
        let plain: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(super::upper(&bytes), plain);
        let mut out = [b'.'; 6];
        super::encode_upper_into(&[0xAB, 0x01], &mut out);
        assert_eq!(&out, b"AB01..");
    }
}
