//! The C ABI from C: compiles the programs in `tests/c/` with the system `cc`
//! against `include/tinker_auth.h` and the static library, and runs them
//! against the loopback stand-in server.
//!
//! The static library is the one cargo built for this very test run: the
//! crate's `[lib]` lists `staticlib`, and cargo compiles a library with all of
//! its crate types when it builds the tests that depend on it, placing
//! `libtinker_auth_ffi.a` in `deps/`, beside this test's executable. So the C
//! programs link exactly the code under test, with no second cargo run. Only
//! if it is missing (a cargo that stops doing so) does the test fall back to
//! `cargo build -p tinker-auth-ffi --lib` in the same target directory.
//!
//! Two variables put the C programs under a checker (the proof script,
//! `.ci/proof`, runs both; plain `cargo test` sets neither):
//!
//! - `TINKER_C_SANITIZE=address` compiles them with `-fsanitize=address`
//!   (AddressSanitizer, with LeakSanitizer at exit): any error or leak, in the
//!   C code or the Rust library it links, fails the run.
//! - `TINKER_C_WRAP="valgrind --error-exitcode=1 --leak-check=full"` runs each
//!   program under that command (split at whitespace).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde_json::Value;
use testkit::probe::STEADY_LIFETIME;
use testkit::stand_in::{verify_hs256, Mode, StandIn, StandInConfig, SUBJECT};

struct StaticLib {
    path: PathBuf,
    /// System libraries the static library needs, as rustc reports them.
    native_libs: Vec<String>,
}

/// What the Rust standard library needs on Linux, as
/// `cargo rustc -- --print native-static-libs` reports it.
const NATIVE_LIBS: [&str; 7] = [
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

/// Finds (or, failing that, builds) the static library once per test process.
fn static_lib() -> &'static StaticLib {
    static LIB: OnceLock<StaticLib> = OnceLock::new();
    LIB.get_or_init(|| {
        let path = built_with_the_tests().unwrap_or_else(build_static_lib);
        StaticLib {
            path,
            native_libs: NATIVE_LIBS.map(str::to_owned).to_vec(),
        }
    })
}

/// `deps/libtinker_auth_ffi.a` beside this test's executable.
fn built_with_the_tests() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let lib = exe.parent()?.join("libtinker_auth_ffi.a");
    lib.is_file().then_some(lib)
}

/// Held while a C program is linked against the library in `deps/`, and
/// while `install.sh` (re)builds it there, so that no link reads a library
/// being rewritten.
pub(crate) static LIBRARY: Mutex<()> = Mutex::new(());

/// `cargo`, as the test's own cargo, without the variables cargo sets for the
/// test process: inherited, they would look like changed build-script inputs
/// (ring tracks CARGO_MANIFEST_DIR) and make every `cargo` run after this one
/// rebuild ring, rustls and ureq.
pub(crate) fn cargo_command() -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
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
    cmd
}

fn build_static_lib() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let target_dir = tmp
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target dir");
    let mut cmd = cargo_command();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "-p", "tinker-auth-ffi", "--lib"])
        .args(["--message-format", "json", "--offline", "--target-dir"])
        .arg(target_dir);
    if !cfg!(debug_assertions) {
        cmd.arg("--release");
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo to build the static library");
    assert!(out.status.success(), "building the static library failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|msg| {
            msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "tinker_auth_ffi"
        })
        .flat_map(|msg| {
            msg["filenames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(PathBuf::from)
                .collect::<Vec<_>>()
        })
        .find(|f| f.extension().is_some_and(|e| e == "a"))
        .expect("cargo reported no static library")
}

/// The sanitizer of `TINKER_C_SANITIZE` (`address`), if set.
fn sanitizer() -> Option<String> {
    let s = std::env::var("TINKER_C_SANITIZE").ok()?;
    let s = s.trim().to_owned();
    (!s.is_empty()).then_some(s)
}

/// Compiles `tests/c/<name>.c` and returns the executable's path.
fn compile_c(name: &str) -> PathBuf {
    let lib = static_lib();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sanitize = sanitizer();
    let suffix = sanitize
        .as_deref()
        .map_or(String::new(), |s| format!("-{s}"));
    let exe = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ffi-c-{name}{suffix}"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let _linking = LIBRARY.lock().unwrap_or_else(|e| e.into_inner());
    let mut cmd = Command::new(&cc);
    if let Some(s) = &sanitize {
        cmd.arg(format!("-fsanitize={s}"))
            .args(["-fno-omit-frame-pointer", "-g"]);
    }
    let out = cmd
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

/// Whether `TINKER_C_WRAP` runs the programs under a wrapper.
fn wrapped() -> bool {
    std::env::var("TINKER_C_WRAP").is_ok_and(|w| !w.trim().is_empty())
}

fn run(exe: &Path, args: &[&str]) -> Output {
    run_under(
        &std::env::var("TINKER_C_WRAP").unwrap_or_default(),
        exe,
        args,
    )
}

/// Runs `exe` under `wrap` (a command split at whitespace; empty: none) and
/// asserts that it succeeded.
fn run_under(wrap: &str, exe: &Path, args: &[&str]) -> Output {
    let mut wrap = wrap.split_whitespace();
    let mut cmd = match wrap.next() {
        Some(program) => {
            let mut cmd = Command::new(program);
            cmd.args(wrap).arg(exe);
            cmd
        }
        None => Command::new(exe),
    };
    let out = cmd
        .args(args)
        .env_remove("TINKER_API_KEY")
        .env_remove("TINKER_CREDENTIAL_CMD")
        .env_remove("TINKER_BASE_URL")
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
    // Tokens long enough to stay off the pacing floor on a loaded machine
    // (see `STEADY_LIFETIME`): the program fails on any error. Under a
    // wrapper (valgrind runs code tens of times slower) an exchange can take
    // longer than their refresh window: longer tokens, a longer run, the
    // same number of lifetimes.
    let slow = if wrapped() { 4 } else { 1 };
    let lifetime = STEADY_LIFETIME * slow;
    let run_secs = lifetime.as_secs() * 5 / 2;
    let server = StandIn::start_with(StandInConfig {
        lifetime,
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
    // Two and a half lifetimes: the threads moved through several tokens.
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
    // One rejected exchange (wrong key), one with base_url and api_key NULL
    // (from the environment), one good one, one after invalidate, one for the
    // older caller's smaller options struct, one for the two handles
    // sharing a cache directory (the second adopts the first's token), and
    // one made behind that directory's held lock.
    assert_eq!(server.exchanges_ok(), 6);
}

#[test]
fn a_program_linking_the_library_runs_under_valgrind() {
    // valgrind maps no vDSO of its own: a clock read that parses the vDSO
    // itself (rustix's own backend does) was a SIGSEGV in the first
    // `get_token`. Users run their programs under valgrind, so plain `cargo
    // test` checks that they can; `.ci/proof` adds the leak check and every
    // program.
    if wrapped() || std::env::var_os("TINKER_C_SANITIZE").is_some() {
        return; // Already under a checker (valgrind cannot run ASan builds).
    }
    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!("valgrind is not installed: nothing to check");
        return;
    }
    let exe = compile_c("info");
    let server = StandIn::start_with(StandInConfig {
        lifetime: Duration::from_secs(600),
        ..StandInConfig::default()
    });
    let out = run_under(
        "valgrind --error-exitcode=1 --quiet",
        &exe,
        &[&server.url(), &server.api_key()],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("runway_ms "), "{stdout}");
}

#[test]
fn c_reads_the_version_the_runway_and_the_stats() {
    let exe = compile_c("info");
    let lifetime = 600;
    let server = StandIn::start_with(StandInConfig {
        lifetime: Duration::from_secs(lifetime),
        ..StandInConfig::default()
    });
    let out = run(&exe, &[&server.url(), &server.api_key()]);
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    // The figures, for whoever runs the test with --nocapture.
    print!("{stdout}");
    let value = |key: &str| -> String {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no `{key}` line in:\n{stdout}"))
            .to_owned()
    };
    let number = |key: &str| -> u64 { value(key).parse().expect("a number") };
    assert_eq!(value("version"), env!("CARGO_PKG_VERSION"));
    // A fresh 600 s token: most of its life left (generous for a loaded machine).
    let runway = number("runway_ms");
    assert!(
        (lifetime - 120) * 1000 <= runway && runway <= lifetime * 1000 + 5_000,
        "runway {runway} ms"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let expires_at = number("expires_at");
    assert!(
        expires_at.abs_diff(now + lifetime) <= 120,
        "expires_at {expires_at}, now {now}"
    );
    // One exchange (at creation), served from the cache after that.
    assert_eq!(number("exchanges_started"), 1);
    assert_eq!(number("exchanges_succeeded"), 1);
    assert_eq!(number("exchanges_failed"), 0);
    assert_eq!(number("exchanges_on_demand"), 1);
    assert_eq!(number("exchanges_background"), 0);
    assert_eq!(number("adopted_from_shared_cache"), 0);
    assert_eq!(server.exchanges_ok(), 1);
    assert!(stdout.ends_with("ok\n"));
}

#[test]
fn free_while_other_threads_are_inside_calls() {
    let exe = compile_c("destroy_race");
    // Each exchange answers after a second: a thread that asks for a new token
    // is inside its call that long, and the program frees the handle then.
    let server = StandIn::start_with(StandInConfig {
        lifetime: Duration::from_secs(60),
        ..StandInConfig::default()
    });
    server.set_mode(Mode::Slow(Duration::from_secs(1)));
    let out = run(&exe, &[&server.url(), &server.api_key()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("inside "), "{stdout}");
}
