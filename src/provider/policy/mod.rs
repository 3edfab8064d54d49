//! Every decision about time, as pure functions of their inputs and `now`.
//!
//! Nothing here reads a clock or takes a lock, so each rule is unit-tested
//! directly with made-up times: skewed, jumped and near-expiry alike.
//!
//! - [`schedule`]: a token's deadlines on the local clock;
//! - [`offset`]: the server's clock offset;
//! - [`pacing`](mod@pacing): the gaps between exchanges and the flights' deadlines;
//! - [`spread`]: when the background thread refreshes (at half-life), spread
//!   across a fleet;
//! - [`limits`]: the constants they share.

mod limits;
mod offset;
mod pacing;
mod schedule;
mod spread;

pub(crate) use offset::*;
pub(crate) use pacing::*;
pub(crate) use schedule::*;
pub(crate) use spread::Draw;

/// Made-up times for the rules' unit tests.
#[cfg(test)]
pub(crate) mod test_support {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::{Timing, CLOCK_RESOLUTION};
    use crate::jwt::JwtTimes;

    pub(crate) const T0: u64 = 1_700_000_000;

    /// The clock uncertainty of a loopback exchange.
    pub(crate) const U: Duration = CLOCK_RESOLUTION;

    pub(crate) fn at(secs: f64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs_f64(T0 as f64 + secs)
    }

    pub(crate) fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    pub(crate) fn timing() -> Timing {
        Timing {
            refresh_before_expiry: s(0),
            refresh_on_demand_within: s(60),
            retry_delay: s(60),
        }
    }

    pub(crate) fn token(iat: f64, lifetime: f64) -> JwtTimes {
        JwtTimes {
            exp: at(iat + lifetime),
            iat: Some(at(iat)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn time_arithmetic_saturates_at_the_extremes() {
        // The top of the jitter's range, a hair under the whole.
        let top = backoff(1, Duration::MAX, Duration::MAX, 1.0);
        assert!(top > Duration::from_secs(u64::MAX - 4096), "{top:?}");
        assert!(backoff(1, Duration::MAX, Duration::MAX, 0.0) < Duration::MAX);
        assert_eq!(backoff(5, Duration::ZERO, s(4), 0.5), Duration::ZERO);
        assert!(
            backoff(5, Duration::from_nanos(1), Duration::from_nanos(1), 0.0)
                <= Duration::from_nanos(1)
        );
        assert_eq!(shift(at(0.0), f64::NAN), at(0.0));
        assert_eq!(shift(at(0.0), f64::INFINITY), at(0.0));
        assert_eq!(shift(at(0.0), -1e300), UNIX_EPOCH);
        assert_eq!(age_floor(at(5.0), at(0.0), Duration::MAX), at(5.0));
        let wide = ClockSample {
            sent: UNIX_EPOCH,
            received: at(0.0),
            date: None,
            iat: None,
            exp: None,
        };
        let _ = wide.uncertainty();
        let backwards = ClockSample {
            sent: at(10.0),
            received: at(0.0),
            date: Some(at(5.0)),
            iat: Some(at(5.0)),
            exp: Some(at(905.0)),
        };
        assert!(estimate_offset(0.0, &backwards, true).is_finite());
    }
}
