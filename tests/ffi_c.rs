//! The C ABI from C: builds the static library (`--features ffi`), compiles the
//! programs in `tests/c/` with the system `cc` against `include/tinker_auth.h`,
//! and runs them against the loopback stand-in server.
//!
//! The library is rlib-only by default (see Cargo.toml), so this test builds
//! the static library itself with
//! `cargo rustc --lib --features ffi --crate-type staticlib` in the same target
//! directory (cargo holds no lock on it while tests run), reusing the compiled
//! dependencies: only `tinker_auth` itself is compiled again.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use testkit::stand_in::{verify_hs256, StandIn, StandInConfig, SUBJECT};

struct StaticLib {
    path: PathBuf,
    /// System libraries the static library needs, as rustc reports them.
    native_libs: Vec<String>,
}

/// Builds the static library once per test process.
fn static_lib() -> &'static StaticLib {
    static LIB: OnceLock<StaticLib> = OnceLock::new();
    LIB.get_or_init(build_static_lib)
}

fn build_static_lib() -> StaticLib {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let target_dir = tmp
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target dir");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    // Cargo sets these for the test process; inherited, they would look like
    // changed build-script inputs (ring tracks CARGO_MANIFEST_DIR) and make
    // every `cargo` run after this one rebuild ring, rustls and ureq.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_by_cargo = name.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_RUSTC_CURRENT_DIR",
                "CARGO_TARGET_TMPDIR",
            ]
            .contains(&&*name);
        if set_by_cargo {
            cmd.env_remove(&*name);
        }
    }
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "rustc",
            "--lib",
            "--features",
            "ffi",
            "--crate-type",
            "staticlib",
        ])
        .args(["--message-format", "json", "--offline", "--target-dir"])
        .arg(target_dir);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    cmd.args(["--", "--print", "native-static-libs"]);
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo to build the static library");
    assert!(out.status.success(), "building the static library failed");
    let mut path = None;
    let mut native_libs = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        match msg["reason"].as_str() {
            Some("compiler-artifact") if msg["target"]["name"] == "tinker_auth" => {
                path = msg["filenames"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .find(|f| f.ends_with(".a") || f.ends_with(".lib"))
                    .map(PathBuf::from);
            }
            Some("compiler-message") => {
                let text = msg["message"]["message"].as_str().unwrap_or_default();
                if let Some(libs) = text.strip_prefix("native-static-libs:") {
                    native_libs = Some(libs.split_whitespace().map(str::to_owned).collect());
                }
            }
            _ => {}
        }
    }
    StaticLib {
        path: path.expect("cargo reported no static library"),
        // rustc prints the list when it compiles; should cargo replay a fresh
        // build without it, fall back to what std needs on Unix.
        native_libs: native_libs.unwrap_or_else(|| {
            ["-lpthread", "-ldl", "-lm", "-lrt", "-lutil", "-lc"]
                .map(str::to_owned)
                .to_vec()
        }),
    }
}

/// Compiles `tests/c/<name>.c` and returns the executable's path.
fn compile_c(name: &str) -> PathBuf {
    let lib = static_lib();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ffi-c-{name}"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-pthread",
            "-I",
        ])
        .arg(root.join("include"))
        .arg(root.join("tests/c").join(format!("{name}.c")))
        .arg(&lib.path)
        .args(&lib.native_libs)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run the C compiler `{cc}` ({e}): this test needs a C toolchain \
                 (install gcc or clang, or set CC)"
            )
        });
    assert!(
        out.status.success(),
        "compiling tests/c/{name}.c failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

fn run(exe: &Path, args: &[&str]) -> Output {
    let out = Command::new(exe)
        .args(args)
        .env_remove("TINKER_API_KEY")
        .env_remove("TINKER_CREDENTIAL_CMD")
        .output()
        .expect("run the C program");
    assert!(
        out.status.success(),
        "{} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        exe.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A loopback URL where nothing listens.
fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    drop(listener);
    format!("http://{addr}")
}

#[test]
fn eight_pthreads_share_one_handle_across_token_lifetimes() {
    let exe = compile_c("threads");
    let lifetime = 3;
    let run_secs = 8;
    let server = StandIn::start_with(StandInConfig {
        lifetime: Duration::from_secs(lifetime),
        ..StandInConfig::default()
    });
    let out = run(
        &exe,
        &[&server.url(), &server.api_key(), &run_secs.to_string()],
    );
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    let calls: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("calls "))
        .and_then(|n| n.parse().ok())
        .expect("a calls line");
    let tokens: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("token "))
        .collect();
    // Every distinct token is one the server signed, for its subject.
    for token in &tokens {
        let claims = verify_hs256(token, &server.secret())
            .unwrap_or_else(|| panic!("a token the server did not sign"));
        assert_eq!(claims["sub"], SUBJECT);
    }
    // 8 s of 3 s tokens: the threads moved through several lifetimes.
    assert!(tokens.len() >= 3, "only {} distinct tokens", tokens.len());
    assert!(calls >= 8 * 10, "only {calls} calls");
    // Thousands of calls, a handful of exchanges: cached and single-flight.
    let exchanges = server.exchanges();
    assert!(exchanges >= tokens.len() as u64);
    assert!(
        exchanges <= 30,
        "{exchanges} exchanges for {calls} calls over {run_secs} s"
    );
}

#[test]
fn misuse_gets_error_codes_not_undefined_behaviour() {
    let exe = compile_c("edge_cases");
    let server = StandIn::start_with(StandInConfig {
        lifetime: Duration::from_secs(60),
        ..StandInConfig::default()
    });
    let out = run(&exe, &[&server.url(), &server.api_key(), &dead_url()]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok\n");
    // One rejected exchange (wrong key), one good one, one after invalidate.
    assert_eq!(server.exchanges_ok(), 2);
}
