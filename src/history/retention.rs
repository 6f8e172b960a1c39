//! `--history-retention`: how much of the fact history is kept.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How long fact deltas are kept (the changelog has its own retention).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Retention {
    /// Every revision's deltas, since the database was created.
    #[default]
    All,
    /// None: no point-in-time reads before the head, no reverts.
    Off,
    /// The deltas of the newest this many revisions.
    Revisions(u64),
    /// The deltas of the revisions committed within this long.
    Age(Duration),
}

impl Retention {
    pub fn enabled(&self) -> bool {
        *self != Retention::Off
    }
}

impl FromStr for Retention {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{text:?} is not a retention: use `all`, `off`, a number of revisions (`100000`) \
                 or a duration (`90d`, `12h`, `30m`, `45s`)"
            )
        };
        match text {
            "all" => return Ok(Retention::All),
            "off" => return Ok(Retention::Off),
            _ => {}
        }
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let n: u64 = digits.parse().map_err(|_| bad())?;
        if n == 0 || n > i64::MAX as u64 {
            return Err(bad());
        }
        let seconds = match unit {
            "" => return Ok(Retention::Revisions(n)),
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        n.checked_mul(seconds)
            .filter(|s| *s <= 100 * 365 * 86_400)
            .map(|s| Retention::Age(Duration::from_secs(s)))
            .ok_or_else(bad)
    }
}

impl fmt::Display for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Retention::All => f.write_str("all"),
            Retention::Off => f.write_str("off"),
            Retention::Revisions(n) => write!(f, "{n}"),
            Retention::Age(d) => write!(f, "{}s", d.as_secs()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retentions_read_as_revisions_durations_or_words() {
        assert_eq!("all".parse(), Ok(Retention::All));
        assert_eq!("off".parse(), Ok(Retention::Off));
        assert_eq!("1000".parse(), Ok(Retention::Revisions(1000)));
        assert_eq!(
            "90d".parse(),
            Ok(Retention::Age(Duration::from_secs(90 * 86_400)))
        );
        assert_eq!("30m".parse(), Ok(Retention::Age(Duration::from_secs(1800))));
        for bad in [
            "",
            "0",
            "-1",
            "5w",
            "d",
            "1.5h",
            "99999999999999999999",
            "1000000000d",
        ] {
            assert!(bad.parse::<Retention>().is_err(), "{bad:?}");
        }
        assert_eq!(Retention::Age(Duration::from_secs(60)).to_string(), "60s");
    }
}
