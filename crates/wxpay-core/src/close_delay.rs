//! The 5-minute rule: WeChat Pay refuses to close an order within five minutes of its
//! creation. Checked before anything is sent.

use crate::error::InvalidInput;

/// WeChat Pay refuses to close an order within this many seconds of its creation.
pub const MIN_CLOSE_DELAY_SECS: u64 = 300;

/// The 5-minute rule: `created_at` and `now` in Unix seconds.
pub(crate) fn close_delay(created_at: Option<u64>, now: u64) -> Result<(), InvalidInput> {
    match created_at {
        Some(created) => {
            let earliest = created.saturating_add(MIN_CLOSE_DELAY_SECS);
            if now < earliest {
                Err(InvalidInput::TooEarly { wait_secs: earliest - now })
            } else {
                Ok(())
            }
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_minute_rule() {
        assert_eq!(close_delay(Some(1000), 1299), Err(InvalidInput::TooEarly { wait_secs: 1 }));
        assert_eq!(close_delay(Some(1000), 1300), Ok(()));
        assert_eq!(
            close_delay(Some(u64::MAX), 0),
            Err(InvalidInput::TooEarly { wait_secs: u64::MAX })
        );
        assert_eq!(close_delay(None, 0), Ok(()));
    }
}
