//! The constants the rules share, in a module of their own so that the rules
//! that use them (the schedule, the pacing) need not import one another.

use std::time::Duration;

/// Least time between the end of one exchange and the start of the next,
/// whoever starts it: a token endpoint issuing tokens that live about a second
/// (or that look so) costs at most about one exchange a second. No background
/// refresh is scheduled inside it, and no backoff is shorter.
pub(crate) const MIN_EXCHANGE_GAP: Duration = Duration::from_secs(1);
