//! Every duration of the C options struct at 0, 1 (ms, its smallest step)
//! and `UINT64_MAX`: refused with `TINKER_AUTH_ERR_INVALID_ARGUMENT` and a
//! message naming the field, or a working provider. Nothing panics.

use std::ffi::CStr;
use std::time::Duration;

use testkit::*;
use tinker_auth_ffi::*;

type Field = fn(&mut TinkerAuthOptions) -> &mut u64;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Refused,
    Works,
    /// A provider, or a failure that is not a panic nor an argument error
    /// (a 1 ms fetch timeout may time out).
    MayFail,
}
use Expect::*;

const FIELDS: &[(&str, Field, [Expect; 3])] = &[
    (
        "refresh_before_expiry_ms",
        |o| &mut o.refresh_before_expiry_ms,
        [Works, Works, Refused],
    ),
    (
        "refresh_on_demand_within_ms",
        |o| &mut o.refresh_on_demand_within_ms,
        [Works, Works, Refused],
    ),
    (
        "retry_delay_ms",
        |o| &mut o.retry_delay_ms,
        [Works, Works, Refused],
    ),
    (
        "fetch_timeout_ms",
        |o| &mut o.fetch_timeout_ms,
        [Refused, MayFail, Refused],
    ),
];

fn message(err: &TinkerAuthError) -> String {
    // SAFETY: the library always NUL-terminates the message.
    unsafe { CStr::from_ptr(err.message.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

#[test]
fn every_option_duration_is_refused_or_works_at_the_extremes() {
    let server = TokenServer::fresh(900.0);
    let url = std::ffi::CString::new(server.url()).unwrap();
    let key = std::ffi::CString::new(KEY).unwrap();
    for &(field, set, expect) in FIELDS {
        for (value, expect) in [0, 1, u64::MAX].into_iter().zip(expect) {
            let what = format!("options.{field} = {value}");
            let mut options = tinker_auth_options_default();
            options.fetch_timeout_ms = Duration::from_secs(5).as_millis() as u64;
            *set(&mut options) = value;
            let mut err = TinkerAuthError {
                code: 1,
                message: [0; TINKER_AUTH_ERROR_MESSAGE_LEN],
            };
            // SAFETY: valid C strings, a live options struct and error struct.
            let handle = unsafe {
                tinker_auth_new_with_options(url.as_ptr(), key.as_ptr(), &options, &mut err)
            };
            let text = message(&err);
            assert_ne!(err.code, TINKER_AUTH_ERR_PANIC, "{what}: {text}");
            match expect {
                Refused => {
                    assert_eq!(handle, 0, "{what}");
                    assert_eq!(err.code, TINKER_AUTH_ERR_INVALID_ARGUMENT, "{what}: {text}");
                    assert!(text.contains(field), "{what}: {text:?} does not name it");
                }
                Works => {
                    assert_ne!(handle, 0, "{what}: {text}");
                    let mut buf = [0 as std::ffi::c_char; 4096];
                    let mut len = 0usize;
                    // SAFETY: a live buffer of the stated length and a live length.
                    let code = unsafe {
                        tinker_auth_get_token(handle, buf.as_mut_ptr(), buf.len(), &mut len)
                    };
                    assert_eq!(code, TINKER_AUTH_OK, "{what}");
                    assert!(len > 0, "{what}");
                }
                MayFail => {
                    assert_ne!(err.code, TINKER_AUTH_ERR_INVALID_ARGUMENT, "{what}: {text}");
                }
            }
            assert_eq!(tinker_auth_free(handle), TINKER_AUTH_OK, "{what}");
        }
    }
}
