//! `install.sh` into a temporary prefix, then C and Python programs built
//! from that prefix alone: the installed layout (header, static library,
//! shared library with its soname and symlinks, `tinker-auth.pc`),
//! `examples/whoami.c` linked against the shared and against the static
//! library through `pkg-config`, and `examples/whoami.py` loading the shared
//! library through `ctypes`, each run against the loopback stand-in.
//!
//! The script builds with the profile of this test run (`--profile dev` under
//! a plain `cargo test`) in the same target directory, so only this crate is
//! compiled again; the release build it does by default is for people.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use testkit::stand_in::{StandIn, StandInConfig};

use crate::c_programs::{cargo_command, LIBRARY};

const LIFETIME_SECS: u64 = 600;

fn check(what: &str, out: std::io::Result<Output>) -> Output {
    let out = out.unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `install.sh --prefix <prefix>` with this run's profile and target dir.
fn install(prefix: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target dir");
    let profile = if cfg!(debug_assertions) {
        "dev"
    } else {
        "release"
    };
    // The script runs cargo, which `cargo_command` has cleaned of the
    // variables cargo set for this test; `CARGO` tells the script which.
    let cargo = cargo_command();
    let mut cmd = Command::new("bash");
    for (name, value) in cargo.get_envs() {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    cmd.env("CARGO", cargo.get_program())
        .arg(root.join("install.sh"))
        .arg("--prefix")
        .arg(prefix)
        .args(["--profile", profile, "--target-dir"])
        .arg(target_dir);
    let _building = LIBRARY.lock().unwrap_or_else(|e| e.into_inner());
    check("install.sh", cmd.output());
}

fn pkg_config(prefix: &Path, args: &[&str]) -> Vec<String> {
    let out = check(
        "pkg-config (this test needs it: install pkg-config or pkgconf)",
        Command::new("pkg-config")
            .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
            .args(args)
            .arg("tinker-auth")
            .output(),
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Compiles `examples/whoami.c` with `flags` into `exe`.
fn compile(exe: &Path, flags: &[String]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    check(
        &format!("{cc} examples/whoami.c {}", flags.join(" ")),
        Command::new(&cc)
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"])
            .arg(root.join("examples/whoami.c"))
            .args(flags)
            .arg("-o")
            .arg(exe)
            .output(),
    );
}

/// Runs a whoami against `server` and returns the runway it printed.
fn runway(mut cmd: Command, server: &StandIn) -> u64 {
    let out = check(
        &format!("{cmd:?}"),
        cmd.env("TINKER_API_KEY", server.api_key())
            .env("TINKER_BASE_URL", server.url())
            .env_remove("TINKER_CREDENTIAL_CMD")
            .output(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(" bytes (not shown"), "{stdout}");
    assert!(!stdout.contains("eyJ"), "the token was printed: {stdout}");
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("runway: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no runway line: {stdout}"))
}

/// The runway of a fresh token: its lifetime, less what a loaded machine
/// takes between the exchange and the print (two minutes, generously).
fn assert_fresh(runway: u64) {
    assert!(
        (LIFETIME_SECS - 120..=LIFETIME_SECS).contains(&runway),
        "{runway}"
    );
}

#[test]
fn installed_library_builds_c_and_python_programs() {
    let prefix: PathBuf =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ffi-install-{}", std::process::id()));
    let _ = fs::remove_dir_all(&prefix);
    install(&prefix);

    // The layout.
    let lib = prefix.join("lib");
    assert!(prefix.join("include/tinker_auth.h").is_file());
    assert!(lib.join("libtinker_auth.a").is_file());
    let version = env!("CARGO_PKG_VERSION");
    let major = env!("CARGO_PKG_VERSION_MAJOR");
    let real = format!("libtinker_auth.so.{version}");
    let soname = format!("libtinker_auth.so.{major}");
    assert!(lib.join(&real).is_file());
    assert_eq!(fs::read_link(lib.join(&soname)).unwrap(), Path::new(&real));
    assert_eq!(
        fs::read_link(lib.join("libtinker_auth.so")).unwrap(),
        Path::new(&soname)
    );
    // The soname is in the library's dynamic string table.
    let so = fs::read(lib.join(&real)).unwrap();
    let needle = format!("{soname}\0");
    assert!(
        so.windows(needle.len()).any(|w| w == needle.as_bytes()),
        "no {soname} in {real}"
    );
    let pc = fs::read_to_string(lib.join("pkgconfig/tinker-auth.pc")).unwrap();
    assert!(pc.contains(&format!("Version: {version}\n")), "{pc}");
    assert!(
        pc.contains("Libs.private: ") && pc.contains("-lpthread"),
        "{pc}"
    );

    // pkg-config, shared and static.
    let include = format!("-I{}", prefix.join("include").display());
    let shared = pkg_config(&prefix, &["--cflags", "--libs"]);
    assert_eq!(
        shared,
        [
            include.clone(),
            format!("-L{}", lib.display()),
            "-ltinker_auth".into()
        ]
    );
    let static_libs = pkg_config(&prefix, &["--static", "--libs"]);
    assert!(
        static_libs.iter().any(|f| f == "-lpthread"),
        "{static_libs:?}"
    );

    let server = StandIn::start_with(StandInConfig {
        lifetime: Duration::from_secs(LIFETIME_SECS),
        ..StandInConfig::default()
    });
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));

    // Against the shared library (found through an rpath).
    let exe = tmp.join(format!("whoami-shared-{}", std::process::id()));
    let mut flags = shared.clone();
    flags.push(format!("-Wl,-rpath,{}", lib.display()));
    compile(&exe, &flags);
    let binary = fs::read(&exe).unwrap();
    assert!(binary.windows(needle.len()).any(|w| w == needle.as_bytes()));
    assert_fresh(runway(Command::new(&exe), &server));

    // Against the static library: no reference to the shared one.
    let exe_static = tmp.join(format!("whoami-static-{}", std::process::id()));
    let mut flags = pkg_config(&prefix, &["--cflags"]);
    flags.push("-Wl,-Bstatic".into());
    flags.extend(static_libs);
    compile(&exe_static, &flags);
    let binary = fs::read(&exe_static).unwrap();
    assert!(!binary.windows(needle.len()).any(|w| w == needle.as_bytes()));
    assert_fresh(runway(Command::new(&exe_static), &server));

    // From Python, through ctypes.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/whoami.py");
    let mut python = Command::new("python3");
    python
        .arg(&script)
        .env("TINKER_AUTH_LIB", lib.join(&soname));
    match Command::new("python3").arg("--version").output() {
        Ok(_) => assert_fresh(runway(python, &server)),
        Err(e) => eprintln!("python3 not runnable ({e}): examples/whoami.py not run"),
    }
    assert_eq!(server.exchanges_ok(), 3);

    for path in [&exe, &exe_static] {
        let _ = fs::remove_file(path);
    }
    let _ = fs::remove_dir_all(&prefix);
}
